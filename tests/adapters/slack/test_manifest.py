"""The manifest asks for what the app uses: the command, the events, interactivity, App Home."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yaml"


def test_manifest_declares_what_the_app_uses() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    lines = {line.split("#")[0].strip() for line in text.splitlines()}
    for needed in ("- command: /consensus", "home_tab_enabled: true", "is_enabled: true",
                   "socket_mode_enabled: true", "should_escape: false"):
        assert needed in lines, needed
    for event in ("app_home_opened", "app_mention", "message.channels", "message.groups", "message.im"):
        assert f"- {event}" in lines, event
    for scope in ("commands", "chat:write", "app_mentions:read", "channels:history", "groups:history",
                  "im:history", "users:read"):
        assert f"- {scope}" in lines, scope
    assert "\t" not in text

"""The manifest asks for what the app uses: the command, the events, interactivity, App Home."""

from __future__ import annotations

from pathlib import Path

MANIFEST = Path(__file__).resolve().parents[3] / "deploy" / "slack-manifest.yaml"


def test_manifest_declares_what_the_app_uses() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    lines = {line.split("#")[0].strip() for line in text.splitlines()}
    for needed in (
        "- command: /consensus",
        "home_tab_enabled: true",
        "is_enabled: true",
        "socket_mode_enabled: true",
        "should_escape: false",
    ):
        assert needed in lines, needed
    for event in ("app_home_opened", "app_mention", "message.channels", "message.groups", "message.im"):
        assert f"- {event}" in lines, event
    for scope in (
        "commands",
        "chat:write",
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "users:read",
        "files:write",
    ):
        assert f"- {scope}" in lines, scope
    assert "\t" not in text


def test_modals_need_no_new_scope() -> None:
    """views.open works with a trigger_id alone; the keys and settings flows reply with
    chat.postEphemeral (chat:write) and read admin status with users.info (users:read). The one
    scope beyond the conversation's is files:write, for Export's upload."""
    lines = [line.split("#")[0].strip() for line in MANIFEST.read_text(encoding="utf-8").splitlines()]
    start = lines.index("bot:")
    scopes = set()
    for line in lines[start + 1 :]:
        if not line.startswith("- "):
            break
        scopes.add(line[2:])
    assert scopes == {
        "commands",
        "chat:write",
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "users:read",
        "files:write",
    }
    assert "keys [list] | settings" in MANIFEST.read_text(encoding="utf-8")

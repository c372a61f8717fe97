"""Socket Mode: apps.connections.open on the fake returns a ws://127.0.0.1 URL the fake serves."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.slack.app import build_slack_app
from core.service import ConsensusService
from tests.adapters.slack.conftest import FAST
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import slash_command


async def test_socket_mode_connects_and_serves_commands(
    slack_api: FakeSlackAPI, make_service: Callable[..., Awaitable[ConsensusService]]
) -> None:
    service = await make_service()
    bot = build_slack_app(
        service,
        bot_token="xoxb-test",
        signing_secret="unused-in-socket-mode",
        api_url=slack_api.api_url,
        app_token="xapp-1-test",
        pacing=FAST,
    )
    await bot.start()
    try:
        assert bot.mode == "socket" and bot.port is None
        await slack_api.wait_until(lambda: slack_api.sockets == 1)
        opened = slack_api.named("apps.connections.open")
        assert len(opened) == 1 and opened[0].headers["Authorization"] == "Bearer xapp-1-test"

        help_cmd = slash_command("help", response_url=slack_api.response_url())
        await slack_api.push(
            {"envelope_id": "E1", "type": "slash_commands", "accepts_response_payload": True, "payload": help_cmd}
        )
        await slack_api.wait_until(lambda: any(m.get("envelope_id") == "E1" for m in slack_api.socket_received))
        ack = next(m for m in slack_api.socket_received if m["envelope_id"] == "E1")
        assert "8,000 characters" in json.dumps(ack["payload"])

        ask = slash_command("Is the sky blue?", response_url=slack_api.response_url())
        await slack_api.push(
            {"envelope_id": "E2", "type": "slash_commands", "accepts_response_payload": True, "payload": ask}
        )
        await slack_api.wait_until(lambda: len(slack_api.args("chat.postMessage")) >= 4)
        await service.wait_idle()
        assert any(m.get("envelope_id") == "E2" for m in slack_api.socket_received)
        assert "Is the sky blue?" in json.dumps(slack_api.args("chat.postMessage")[0]["blocks"])
    finally:
        await bot.stop()
    await slack_api.wait_until(lambda: slack_api.sockets == 0)  # stop() closed the socket


def test_missing_secrets_fail_with_the_variable_named() -> None:
    import pytest

    from core.errors import ConfigError

    service: Any = object()  # never reached: configuration is checked first
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        build_slack_app(service, bot_token="xoxb-test", signing_secret="", api_url="http://127.0.0.1:9/api/")
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        build_slack_app(service, bot_token="", signing_secret="s", api_url="http://127.0.0.1:9/api/")

"""Requests to /slack/events that Slack did not sign, or that are not what Slack sends: the
signature is checked first, nothing unsigned is logged, and nothing answers with a traceback."""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.adapters.slack.conftest import SECRET, SlackEnv
from tests.fakes.slack_signing import FORM, signed_headers

JSON = "application/json"
MARKER = "FORGED-7f3a"  # in every body below: it must never reach a log line
BODIES = {
    "not JSON": (f"{{{MARKER} not json", JSON),
    "a JSON list": (json.dumps([MARKER, {"type": "event_callback"}]), JSON),
    "a JSON string": (json.dumps(MARKER), JSON),
    "a payload that is not JSON": (f"payload=%7B{MARKER}", FORM),
    "a payload that is a JSON list": (f"payload=%5B%22{MARKER}%22%5D", FORM),
}


async def post(env: SlackEnv, body: str, headers: dict[str, str]) -> tuple[int, str]:
    async with env.send.session.post(env.send.url, data=body.encode(), headers=headers) as response:
        return response.status, await response.text()


def quiet(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and no error was logged, and no line holds any part of a request's body."""
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert MARKER not in caplog.text


@pytest.mark.parametrize("body, content_type", BODIES.values(), ids=BODIES.keys())
async def test_an_unsigned_request_is_refused_before_it_is_read(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    calls = len(slack_env.api.calls)  # the start-up's auth.test
    forged = signed_headers("not-the-secret", body, content_type=content_type)
    for headers in (forged, {"Content-Type": content_type}):
        assert await post(slack_env, body, headers) == (401, '{"error": "invalid request"}')
    quiet(caplog)
    assert len(slack_env.api.calls) == calls  # Slack was not called about it


async def test_a_forged_event_that_is_well_formed_is_not_logged(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt logs each request with a bad signature, body included, at INFO."""
    caplog.set_level(logging.DEBUG)
    # Bolt's loggers take the root's level when the app is built: DEBUG, as with LOG_LEVEL=DEBUG
    caplog.set_level(logging.DEBUG, logger="slack_bolt.RequestVerification")
    body = json.dumps({"type": "event_callback", "event_id": MARKER, "event": {"type": "app_mention", "text": MARKER}})
    status, _ = await post(slack_env, body, signed_headers("not-the-secret", body, content_type=JSON))
    assert status == 401
    quiet(caplog)


@pytest.mark.parametrize("timestamp", ["soon", "", "1e9", "-"])
async def test_a_timestamp_that_is_not_a_number_is_refused(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"type": "event_callback", "event_id": MARKER})
    headers = signed_headers(SECRET, body, content_type=JSON) | {"X-Slack-Request-Timestamp": timestamp}
    assert (await post(slack_env, body, headers))[0] == 401
    quiet(caplog)


@pytest.mark.parametrize("body, content_type", BODIES.values(), ids=BODIES.keys())
async def test_a_signed_request_that_is_not_slacks_shape_gets_400(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, text = await slack_env.send.send(body, content_type=content_type)
    assert (status, json.loads(text)) == (400, {"error": "malformed request"})
    quiet(caplog)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"Slack: a signed request of {len(body.encode())} bytes is not one Slack sends; answered 400"
    ]


async def test_a_stale_signed_request_is_refused(slack_env: SlackEnv, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"type": "event_callback", "event_id": MARKER})
    status, _ = await slack_env.send.send(body, content_type=JSON, timestamp=int(time.time()) - 600)
    assert status == 401
    quiet(caplog)

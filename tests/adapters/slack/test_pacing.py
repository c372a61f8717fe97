"""Pacing against the fake Web API: coalescing, buckets, and 429s that never lose a final state."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from adapters.retrying import Backoff
from adapters.slack.pacing import Bucket, Pacer, Pacing, RateLimitNotifier
from adapters.slack.text import escape
from tests.fakes.slack_api import DROP, HTML_500, Failure, FakeSlackAPI


def section(text: str) -> list[dict[str, object]]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text), "verbatim": True}}]


async def make_pacer(api: FakeSlackAPI, pacing: Pacing) -> tuple[Pacer, aiohttp.ClientSession]:
    from slack_sdk.web.async_client import AsyncWebClient

    session = aiohttp.ClientSession()
    client = AsyncWebClient(token="xoxb-test", base_url=api.api_url, session=session)
    pacer = Pacer(client, pacing)
    client.retry_handlers.append(RateLimitNotifier(pacer.limited, max_retry_count=2))
    return pacer, session


async def test_updates_coalesce_latest_state_wins(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=5, update_burst=1))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("v0"))
        for i in range(1, 30):
            pacer.update("T1", "C1", ts, text=f"v{i}", blocks=section(f"v{i}"))
        await pacer.flush()
        message = slack_api.messages["C1"][ts]
        assert message.text == "v29"
        assert message.edits < 5  # 29 states, a handful of calls
    finally:
        await pacer.close()
        await session.close()


async def test_optional_updates_are_dropped_when_the_bucket_runs_short(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=1 / 600, update_burst=4, update_reserve=4))
    try:
        cards = [await pacer.post("C1", text="card", blocks=section("start")) for _ in range(3)]
        sent = [
            pacer.update("T1", "C1", ts, text="progress", blocks=section("progress"), optional=True) for ts in cards
        ]
        assert sent == [True, False, False]  # 4 tokens, 4 in reserve: after the first, the reserve is short
        await pacer.flush()
        for ts in cards:  # the final states still go out, on the tokens progress did not take
            pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 5)
        assert [slack_api.messages["C1"][ts].text for ts in cards] == ["final"] * 3
        assert len(slack_api.args("chat.update")) == 4
    finally:
        await pacer.close()
        await session.close()


async def test_429_on_update_waits_and_still_reaches_final_state(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=100, update_burst=100))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("start"))
        slack_api.rate_limit_next["chat.update"].extend([1, 0, 0])  # more than the SDK retries
        pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 15)
        assert slack_api.messages["C1"][ts].text == "final"
        assert len(slack_api.args("chat.update")) == 4
    finally:
        await pacer.close()
        await session.close()


ONCE = {
    "internal_error": [(200, "internal_error")],
    "http_500": [HTML_500],
    "service_unavailable": [(503, "service_unavailable")],
    "dropped_connection": [DROP, DROP],  # the client's own retry absorbs one drop
}


@pytest.mark.parametrize("failures", ONCE.values(), ids=ONCE.keys())
async def test_an_update_that_fails_once_is_sent_again(slack_api: FakeSlackAPI, failures: list[Failure]) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=100, update_burst=100, retry=Backoff(base=0.01)))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("start"))
        slack_api.fail_next["chat.update"].extend(failures)
        pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 15)
        assert slack_api.messages["C1"][ts].text == "final"
        assert not slack_api.fail_next["chat.update"]
    finally:
        await pacer.close()
        await session.close()


async def test_a_newer_state_replaces_one_waiting_to_be_sent_again(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=100, update_burst=100, retry=Backoff(base=0.2)))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("start"))
        slack_api.fail_next["chat.update"].append((200, "internal_error"))
        pacer.update("T1", "C1", ts, text="writing", blocks=section("writing"))
        await slack_api.wait_for("chat.update")  # failed; waiting before it tries again
        pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 15)
        assert [a["text"] for a in slack_api.args("chat.update")] == ["writing", "final"]
        assert slack_api.messages["C1"][ts].text == "final"
    finally:
        await pacer.close()
        await session.close()


async def test_an_update_that_keeps_failing_is_given_up_and_logged(
    slack_api: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    pacer, session = await make_pacer(
        slack_api, Pacing(update_rate=100, update_burst=100, retry=Backoff(base=0.01, retries=2))
    )
    try:
        ts = await pacer.post("C1", text="card", blocks=section("start"))
        slack_api.fail_next["chat.update"].extend([(200, "internal_error")] * 3)
        pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 15)
        assert len(slack_api.args("chat.update")) == 3  # the first try and two more
        assert slack_api.messages["C1"][ts].text == "card"
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
            "chat.update failed: internal_error, gave up after 3 tries"
        ]
    finally:
        await pacer.close()
        await session.close()


async def test_an_update_slack_refuses_for_good_is_not_sent_again(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=100, update_burst=100, retry=Backoff(base=0.01)))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("start"))
        slack_api.fail_next["chat.update"].append((200, "invalid_blocks"))
        pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await asyncio.wait_for(pacer.flush(), 15)
        assert len(slack_api.args("chat.update")) == 1
    finally:
        await pacer.close()
        await session.close()


async def test_post_429_is_retried(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing())
    try:
        slack_api.rate_limit_next["chat.postMessage"].append(0)
        ts = await pacer.post("C1", text="hello", blocks=section("hello"), thread_ts=None)
        assert slack_api.messages["C1"][ts].text == "hello"
    finally:
        await pacer.close()
        await session.close()


async def test_delete_drops_a_pending_update(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=1, update_burst=0))
    try:
        ts = await pacer.post("C1", text="card", blocks=section("x"))
        pacer.update("T1", "C1", ts, text="late", blocks=section("late"))
        await pacer.delete("C1", ts)
        await pacer.flush()
        assert slack_api.messages["C1"][ts].deleted
        assert slack_api.args("chat.update") == []
    finally:
        await pacer.close()
        await session.close()


async def test_bucket_allows_burst_then_paces() -> None:
    bucket = Bucket(rate=50, burst=3)
    start = time.monotonic()
    for _ in range(6):
        await bucket.take()
    assert time.monotonic() - start >= 0.05  # three beyond the burst at 50/s


@pytest.mark.parametrize("seconds", [0.05])
async def test_pause_blocks_the_bucket(seconds: float) -> None:
    bucket = Bucket(rate=1000, burst=10)
    bucket.pause(seconds)
    start = time.monotonic()
    await bucket.take()
    assert time.monotonic() - start >= seconds * 0.9


def test_default_update_pacing_never_exceeds_tier_3_in_any_minute() -> None:
    pacing = Pacing()
    assert pacing.update_burst + pacing.update_rate * 60 <= 50


async def test_closing_sends_every_queued_final_state_without_waiting_for_the_pace(slack_api: FakeSlackAPI) -> None:
    pacer, session = await make_pacer(slack_api, Pacing(update_rate=1 / 600, update_burst=1))  # 1 per 10 min
    try:
        cards = [await pacer.post("C1", text="card", blocks=section("pending")) for _ in range(3)]
        for ts in cards:
            pacer.update("T1", "C1", ts, text="final", blocks=section("final"))
        await pacer.close(grace=5.0)
        assert [slack_api.messages["C1"][ts].text for ts in cards] == ["final"] * 3
    finally:
        await session.close()

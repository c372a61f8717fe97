"""Cost on Slack, end to end: the command is acknowledged with the question's estimate; the question's
message says the estimate beside the cost once answered; above the workspace's threshold the asker
confirms privately first (Ask / Cancel), and nothing is stored before Ask; App Home shows today's spend."""

from __future__ import annotations

import base64
import json
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from adapters.presenter import cost
from adapters.slack import confirm
from adapters.slack.app import build_slack_app
from core.domain import Actor
from core.errors import ConsensusError
from core.service import ConsensusService
from tests.adapters.slack.conftest import FAST, MODELS, SECRET, SlackEnv
from tests.adapters.slack.test_settings import open_settings, submit
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import SlackSender, block_action, event_callback, thread_reply

PRICES = {"openai/gpt-test": (1000.0, 2000.0), "anthropic/claude-test": (500.0, 1000.0)}


def acked(body: str) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(body)
    assert reply["response_type"] == "ephemeral"
    return reply


async def click(env: SlackEnv, action_id: str, value: str, user: str = "U1") -> None:
    payload = block_action(action_id, response_url=env.api.response_url(), user=user)
    payload["actions"][0]["value"] = value
    payload["container"]["is_ephemeral"] = True
    status, _ = await env.send.action(payload)
    assert status == 200


@pytest_asyncio.fixture
async def env(
    slack_api: FakeSlackAPI, llm_server: FakeLLMServer, make_service: Callable[..., Awaitable[ConsensusService]]
) -> AsyncIterator[SlackEnv]:
    """The Slack world of conftest.py, with two of its three models priced."""
    service = await make_service(models=MODELS, consensus_prices=PRICES)
    bot = build_slack_app(service, bot_token="xoxb-test", signing_secret=SECRET, api_url=slack_api.api_url, pacing=FAST)
    await bot.start("127.0.0.1", 0)
    session = aiohttp.ClientSession()
    try:
        yield SlackEnv(
            slack_api,
            llm_server,
            service,
            bot,
            SlackSender(session, f"http://127.0.0.1:{bot.port}/slack/events", SECRET),
        )
    finally:
        await service.wait_idle()
        await bot.stop()
        await session.close()


async def test_the_ack_says_the_estimate_and_the_question_its_cost(env: SlackEnv) -> None:
    status, body = await env.command("What is 6 x 7?")
    assert status == 200
    said = acked(body)["text"]
    assert said.startswith("Asking… ≈ $") and said.endswith("for 3 models (1 price unknown)")
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    await env.settle()
    parent = env.api.messages["C1"][env.thread_ts()]
    shown = json.dumps(parent.blocks, ensure_ascii=False)
    assert "estimated ≈ $" in shown and ", cost ≥ $" in shown and "(1 price unknown)" in shown


def confirm_value(reply: dict[str, Any]) -> str:
    buttons = next(b for b in reply["blocks"] if b["type"] == "actions")["elements"]
    assert [b["action_id"] for b in buttons] == [confirm.ASK_ACTION, confirm.CANCEL_ACTION]
    value: str = buttons[0]["value"]
    assert len(value) <= confirm.VALUE_LIMIT
    return value


async def test_above_the_threshold_the_asker_confirms_first(env: SlackEnv) -> None:
    view = await open_settings(env)  # an admin sets the threshold in the settings modal
    assert await submit(env, view, {"models": list(MODELS), "confirm_above": "0.0001"}) == {}
    assert (await env.service.model_settings(env.ws)).confirm_above_usd == 0.0001
    await env.api.wait_until(lambda: env.api.ephemeral)
    assert "Confirm before asking: above $0.0001 (estimated)." in env.api.ephemeral[-1]["text"]

    status, body = await env.command("Is this <!channel> worth it?", trigger_id="T-costly")
    assert status == 200
    reply = acked(body)
    assert "above this workspace's $0.0001 threshold" in reply["text"] and "<!channel>" not in json.dumps(reply)
    value = confirm_value(reply)
    await click(env, confirm.CANCEL_ACTION, "")  # Cancel: replaced, nothing stored or spent
    await env.api.wait_until(lambda: env.api.responses)
    assert env.api.responses[-1]["text"] == cost.CANCELLED and env.api.responses[-1]["replace_original"]
    assert await env.service.history(env.ws) == [] and env.llm.calls == []

    await click(env, confirm.ASK_ACTION, value, user="U2")  # someone else's button does nothing
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 2)
    assert env.api.ephemeral[-1]["text"] == cost.NOT_YOURS and await env.service.history(env.ws) == []

    await click(env, confirm.ASK_ACTION, value)
    # no waiting: Ask is acknowledged once its question is stored, so a process killed then still finishes it
    assert [c.title for c in await env.service.history(env.ws)] == ["Is this <!channel> worth it?"]
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    await env.settle()
    assert env.api.responses[-1]["text"] == cost.CONFIRMED

    await click(env, confirm.ASK_ACTION, value)  # a second Ask asks nothing, and says so
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 3)
    assert env.api.ephemeral[-1]["text"] == cost.ALREADY_ASKED and len(env.parents()) == 1

    old = confirm.pack(confirm.Pending("T1", "C1", "U1", "Old one", "T-old", int(time.time()) - confirm.MAX_AGE - 1))
    assert old is not None
    for stale in (old, "not a value"):
        await click(env, confirm.ASK_ACTION, stale)
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 5)
    assert [e["text"] for e in env.api.ephemeral[-2:]] == [cost.EXPIRED, cost.EXPIRED]
    assert len(await env.service.history(env.ws)) == 1


async def test_a_question_too_long_to_carry_is_refused_clearly(env: SlackEnv) -> None:
    await env.service.set_confirmation(Actor(env.ws, "UADMIN", is_admin=True), 0.0001)
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))  # does not compress
    status, body = await env.command(noise)
    assert status == 200
    assert "too long to hold for confirmation" in acked(body)["text"]
    assert await env.service.history(env.ws) == []


async def test_app_home_shows_the_spend_of_today(env: SlackEnv) -> None:
    await env.service.set_limits(Actor(env.ws, "UADMIN", is_admin=True), daily_budget_usd=5, questions_per_minute=None)
    await env.ask("What is 6 x 7?")
    opened = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    status, _ = await env.send.event(event_callback(opened, event_id="Ev-home"))
    assert status == 200
    await env.api.wait_until(lambda: env.api.views)
    shown = json.dumps(env.api.views[-1]["view"], ensure_ascii=False)
    assert "Spent today (UTC): ≥ $" in shown and "(1 price unknown) of the $5.00 daily budget" in shown


async def test_a_reply_in_the_thread_above_the_threshold_is_confirmed_first(env: SlackEnv) -> None:
    await env.ask("What is 6 x 7?")
    await env.service.set_confirmation(Actor(env.ws, "UADMIN", is_admin=True), 0.0001)
    reply = thread_reply("And times two?", thread_ts=env.thread_ts(), ts="1700000100.000001")
    status, _ = await env.send.event(event_callback(reply, event_id="Ev-costly"))
    assert status == 200
    await env.api.wait_until(lambda: env.api.ephemeral)
    private = env.api.ephemeral[-1]
    assert private["thread_ts"] == env.thread_ts() and "above this workspace's $0.0001 threshold" in private["text"]
    assert [c.questions for c in await env.service.history(env.ws)] == [1]  # nothing stored yet

    await click(env, confirm.ASK_ACTION, confirm_value(private))
    await env.api.wait_until(lambda: len(env.cards()) == 3 + 1 + 3)  # the follow-up's header and cards
    await env.settle()
    assert [c.questions for c in await env.service.history(env.ws)] == [2]


def test_a_value_that_is_not_ours_reads_as_expired() -> None:
    pending = confirm.Pending("T1", "C1", "U1", "é" * 8000, "T-1", int(time.time()), 3, "1700000000.000100")
    value = confirm.pack(pending)  # repetitive text compresses: it fits, and reads back whole
    assert value is not None and confirm.unpack(value) == pending
    noise = confirm.Pending("T1", "C1", "U1", secrets.token_urlsafe(6000), "T-1", int(time.time()))
    assert confirm.pack(noise) is None  # text that does not compress cannot be carried
    short = confirm.Pending("T1", "C1", "U1", "What is 6 x 7?", "T-1", int(time.time()))
    assert confirm.unpack(confirm.pack(short) or "") == short
    bomb = base64.urlsafe_b64encode(zlib.compress(b'{"team": "' + b"x" * 1_000_000 + b'"}', 9)).decode()
    forged = base64.urlsafe_b64encode(zlib.compress(b'{"team": 1, "channel": 2}')).decode()
    for value in (bomb, forged, "%%%"):
        with pytest.raises(ConsensusError, match="expired"):
            confirm.unpack(value)


async def test_a_slow_estimate_follows_the_acknowledgement(env: SlackEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirm, "ACK_BUDGET", 0.0)  # as if the store were slow: Slack is answered first
    status, body = await env.command("What is 6 x 7?")
    assert (status, body) == (200, "")
    await env.api.wait_until(lambda: env.api.responses)
    said = env.api.responses[0]
    assert said["text"].startswith("Asking… ≈ $") and said["response_type"] == "ephemeral"
    assert said["replace_original"] is False
    await env.api.wait_until(lambda: len(env.parents()) == 1)

    await env.service.set_confirmation(Actor(env.ws, "UADMIN", is_admin=True), 0.0001)
    status, body = await env.command("And above the threshold?", trigger_id="T-slow")
    assert (status, body) == (200, "")
    await env.api.wait_until(lambda: len(env.api.responses) == 2)
    assert confirm_value(env.api.responses[1])  # Ask / Cancel, privately
    await env.settle()
    assert len(env.parents()) == 1

"""A slash command that reaches the bot twice (Slack's retry, a replayed request) asks once."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.slack_signing import encode_form, new_trigger_id, slash_command


async def test_a_command_delivered_twice_asks_once_and_the_repeat_is_quiet(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = slack_env
    caplog.set_level(logging.WARNING)
    trigger = new_trigger_id()
    first = await env.command("Asked once?", trigger_id=trigger)
    await env.api.wait_until(lambda: len(env.parents()) == 1)
    again = await env.command("Asked once?", trigger_id=trigger)
    # both acknowledged with the question's estimate (only the asker sees it); the repeat asks nothing
    assert first[0] == again[0] == 200
    assert all(json.loads(body)["text"].startswith("Asking… ") for _, body in (first, again))
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    await env.settle()
    assert len(env.parents()) == 1 and len(env.cards()) == 3
    assert env.api.responses == [] and env.api.ephemeral == []  # nobody was told anything
    assert [c.questions for c in await env.service.history(env.ws)] == [1]
    assert caplog.records == []
    await env.command("Asked once?")  # the same words in a new command: a new question
    await env.api.wait_until(lambda: len(env.parents()) == 2)


async def test_a_signed_request_replayed_byte_for_byte_asks_once(slack_env: SlackEnv) -> None:
    """Within Slack's five minutes a copied request still carries a valid signature."""
    env = slack_env
    body = encode_form(slash_command("Replayed?", response_url=env.api.response_url()))
    results = await asyncio.gather(*(env.send.send(body) for _ in range(4)))  # at once, on one replica
    assert [status for status, _ in results] == [200] * 4 and len({body for _, body in results}) == 1
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    await env.settle()
    assert len(env.parents()) == 1
    assert [c.questions for c in await env.service.history(env.ws)] == [1]
    assert len(env.llm.calls) == 3  # one paid answer per model, not four

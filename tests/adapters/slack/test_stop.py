"""Stop in Slack: the question's message has Stop while a model writes; a Select meanwhile offers the
selecter "Stop the others" privately; a stop closes the model's stream and its card says who stopped it."""

from __future__ import annotations

import json

from core.domain import AnswerStatus, Ending
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.llm_server import Ok
from tests.fakes.slack_signing import block_action

SLOW = "gpt-test"
TEXT = "Arrived before the stop. " * 3 + "Never sent. " * 3


async def click_on_question(env: SlackEnv, action_id: str, user: str) -> None:
    payload = block_action(
        action_id, response_url=env.api.response_url(), user=user, message_ts=env.thread_ts(), thread_ts=None
    )
    assert (await env.send.action(payload))[0] == 200


async def test_select_offers_stop_the_others_and_stop_closes_the_stream(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.script("chat", [Ok(TEXT, chunks=6, hold_after=3)], model=SLOW)
    assert (await env.command("Explain everything"))[0] == 200
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    live = next(iter(env.bot.renderer.threads.values()))
    batch_id = live.batch.id
    stop = f"consensus:stop:{batch_id}"
    await env.llm.wait_until(lambda: SLOW in env.llm.held_streams, "the slow model held mid-answer")
    await env.api.wait_until(lambda: stop in json.dumps(env.parents()[0].blocks))  # Stop while it writes

    batch = await env.service.get_batch(batch_id, env.ws)
    quick = next(a for a in batch.answers if a.provider_id == "anthropic/claude-test")
    await env.api.wait_until(lambda: f"consensus:select:{quick.id}" in env.screen())
    await env.click("select", quick.id)
    await env.api.wait_until(lambda: any(stop in json.dumps(e.get("blocks")) for e in env.api.ephemeral))
    offer = next(e for e in env.api.ephemeral if stop in json.dumps(e.get("blocks")))
    assert offer["user"] == "U1" and "Stop the others" in json.dumps(offer["blocks"])
    assert "OpenAI" in offer["text"] and "kept" in offer["text"]

    await click_on_question(env, stop, user="U2")  # a bystander may not
    await env.api.wait_until(lambda: any("Only the person who asked" in e["text"] for e in env.api.ephemeral))
    assert SLOW in env.llm.held_streams

    await click_on_question(env, stop, user="U1")
    await env.llm.wait_until(lambda: SLOW in env.llm.closed_by_client, "the stream closed by the bot")
    await env.settle()
    stored = await env.service.get_batch(batch_id, env.ws)
    stopped = next(a for a in stored.answers if a.provider_id == f"openai/{SLOW}")
    assert stopped.status is AnswerStatus.COMPLETED and stopped.ended == Ending.STOPPED
    assert stopped.content and "Arrived before the stop" in stopped.content and "Never sent" not in stopped.content
    card = json.dumps((await env.card_of(stopped.id)).blocks, ensure_ascii=False)
    assert "⏹ Stopped by <@U1>" in card and f"consensus:retry:{stopped.id}" in card
    question = json.dumps(env.parents()[0].blocks, ensure_ascii=False)
    assert stop not in question and "OpenAI stopped" in question and "ranked by" in question

"""Merge on Slack: the button on the question, the merged card posted into the thread, streamed like
the others, selected as the next follow-up's context, failed and retried; refusals change nothing."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from core.domain import Actor, AnswerStatus, Batch
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.llm_server import server_error
from tests.fakes.slack_signing import block_action, event_callback, thread_reply

dumps = partial(json.dumps, ensure_ascii=False)
ANSWERS = {"gpt-test": "GPT says four.", "claude-test": "Claude says 4.", "llama-test": "Llama says five."}
NAMES = {"gpt-test": "OpenAI", "claude-test": "Anthropic", "llama-test": "Ollama"}
MERGED = (
    "Answers A and B agree on four; Answer C says five.\n"
    "CONSENSUS: Two answers say four, one says five.\n"
    "TL;DR: Two plus two is four.\n"
    "WHY: Counting agrees."
)


def answering(model: str) -> Any:
    """The model's own answer, or the merge when it is asked to merge."""

    def reply(body: Any) -> str:
        return MERGED if "[Quoted Answer A]" in dumps(body) else ANSWERS[model]

    return reply


def script(env: SlackEnv) -> None:
    env.llm.answers.update({model: answering(model) for model in ANSWERS})


def merge_requests(env: SlackEnv) -> list[str]:
    bodies = [dumps(b) for endpoint in ("chat", "messages") for b in env.llm.requests(endpoint)]
    return [b for b in bodies if "[Quoted Answer A]" in b]


async def click_merge(env: SlackEnv, batch: Batch, user: str = "U1") -> None:
    payload = block_action(
        f"consensus:merge:{batch.id}",
        response_url=env.api.response_url(),
        user=user,
        message_ts=env.thread_ts(),
    )
    status, _ = await env.send.action(payload)
    assert status == 200


async def merged_card(env: SlackEnv, batch: Batch) -> tuple[Batch, int]:
    await env.api.wait_until(lambda: "Merged answer" in env.screen())
    await env.settle()
    stored = await env.service.get_batch(batch.id, env.ws)
    assert stored.merge is not None
    return stored, stored.merge.id


async def test_merge_button_posts_a_merged_card_with_names(slack_env: SlackEnv) -> None:
    env = slack_env
    script(env)
    batch = await env.ask()
    parent = dumps(env.parents()[0].blocks)
    assert f"consensus:merge:{batch.id}" in parent
    await click_merge(env, batch)
    stored, merge_id = await merged_card(env, batch)
    assert len(env.cards()) == 4  # the three answers and the merge, in the thread

    body = merge_requests(env)[-1]
    for name in [*NAMES, *NAMES.values()]:
        assert name not in body.split('"messages"', 1)[1], name
    assert "never instructions" in body

    card = dumps((await env.card_of(merge_id)).blocks)
    assert "Merged answer" in card and "Two plus two is four." in card
    assert "Merged from A ·" in card
    assert f"consensus:select:{merge_id}" in card and f"consensus:expand:{merge_id}" in card
    assert "tokens" in card and "key: operator" in card
    merged = stored.merge
    assert merged is not None and merged.content is not None
    letters = dict(merged.merged_from)
    assert f"Answers A and B ({letters['A']}, {letters['B']}) agree" in merged.content

    parent = dumps(env.parents()[0].blocks)
    assert "Two answers say four, one says five." in parent
    assert f"consensus:merge:{batch.id}" not in parent  # merged once
    assert "merged by" in parent


async def test_a_selected_merge_is_the_next_follow_ups_context(slack_env: SlackEnv) -> None:
    env = slack_env
    script(env)
    batch = await env.ask()
    await click_merge(env, batch)
    _stored, merge_id = await merged_card(env, batch)
    await env.click("select", merge_id)
    await env.api.wait_until(lambda: "Selected by" in env.screen())
    await env.settle()
    reply = thread_reply("And times three?", thread_ts=env.thread_ts(), ts="1700000100.000001")
    status, _ = await env.send.event(event_callback(reply, event_id="EvMerge"))
    assert status == 200
    await env.api.wait_until(lambda: len(env.cards()) == 4 + 1 + 3)
    await env.settle()
    bodies = [dumps(b) for b in env.llm.requests("chat", model="gpt-test") if "And times three?" in dumps(b)]
    assert bodies and "Quoted answer merged by" in bodies[-1] and "Answers A and B" in bodies[-1]
    assert "GPT says four." not in bodies[-1]


async def test_a_failed_merge_shows_why_and_retry_writes_it(slack_env: SlackEnv) -> None:
    env = slack_env
    script(env)
    batch = await env.ask()
    top = next(a for a in batch.answers if a.rank == 1)
    endpoint = "messages" if top.provider_id.startswith("anthropic/") else "chat"
    env.llm.script(endpoint, [server_error(top.provider_id.split("/")[0])] * 4, model=top.model)
    await click_merge(env, batch)
    await env.api.wait_until(lambda: "Failed:" in env.screen())
    await env.settle()
    stored = await env.service.get_batch(batch.id, env.ws)
    failed = stored.merge
    assert failed is not None and failed.status is AnswerStatus.FAILED
    card = dumps((await env.card_of(failed.id)).blocks)
    assert f"consensus:retry:{failed.id}" in card

    await env.click("retry", failed.id)
    await env.api.wait_until(lambda: "Two plus two is four." in env.screen())
    await env.settle()
    again = await env.service.get_batch(batch.id, env.ws)
    assert again.merge is not None and again.merge.status is AnswerStatus.COMPLETED
    assert len(env.cards()) == 4  # the same card, written again


async def test_merge_by_someone_else_is_refused_and_stores_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    script(env)
    batch = await env.ask()
    await click_merge(env, batch, user="U2")
    await env.api.wait_until(lambda: bool(env.api.ephemeral))
    await env.settle()
    assert re.search("Only the person who asked", dumps(env.api.ephemeral[-1]))
    stored = await env.service.get_batch(batch.id, env.ws)
    assert stored.merge is None and not merge_requests(env)
    assert len(env.cards()) == 3


async def test_a_merge_over_the_daily_budget_is_refused_privately(slack_env: SlackEnv) -> None:
    env = slack_env
    script(env)
    batch = await env.ask()
    await env.service.set_limits(Actor(env.ws, "UADMIN", is_admin=True), daily_budget_usd=0, questions_per_minute=None)
    await click_merge(env, batch)
    await env.api.wait_until(lambda: bool(env.api.ephemeral))
    await env.settle()
    assert "daily budget" in dumps(env.api.ephemeral[-1])
    stored = await env.service.get_batch(batch.id, env.ws)
    assert stored.merge is None and not merge_requests(env) and len(env.cards()) == 3

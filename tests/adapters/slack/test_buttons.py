"""Every button, checked on what Slack received and in the store; refusals change nothing."""

from __future__ import annotations

import json
import re
from functools import partial
from typing import Any

from core.domain import AnswerStatus
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.llm_server import Ok, unauthorized

dumps = partial(json.dumps, ensure_ascii=False)
LONG = "# Plan\n" + ("A long paragraph about the plan. " * 40 + "\n\n") * 6


async def buttons_of(env: SlackEnv, answer_id: int) -> dict[str, dict[str, Any]]:
    card = await env.card_of(answer_id)
    return {e["action_id"]: e for b in card.blocks if b["type"] == "actions" for e in b["elements"]}


def snapshot(env: SlackEnv) -> tuple[int, int, int]:
    return (len(env.api.args("chat.update")), len(env.api.args("chat.delete")), len(env.api.args("chat.postMessage")))


async def test_expand_and_collapse_by_anyone(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.answers["gpt-test"] = LONG
    batch = await env.ask()
    target = next(a for a in batch.answers if a.provider_id == "openai/gpt-test")
    await env.click("expand", target.id, user="U2")  # not the asker: expanding is for anyone
    await env.api.wait_until(lambda: "collapse" in env.screen())
    await env.settle()
    card = await env.card_of(target.id)
    assert dumps(card.blocks).count("A long paragraph") == 240
    assert f"consensus:collapse:{target.id}" in dumps(card.blocks)
    assert (await env.service.get_answer(target.id, env.ws)).is_expanded
    await env.click("collapse", target.id, user="U2")
    await env.api.wait_until(lambda: f"consensus:expand:{target.id}" in env.screen())
    await env.settle()
    assert not (await env.service.get_answer(target.id, env.ws)).is_expanded
    assert dumps((await env.card_of(target.id)).blocks).count("A long paragraph") < 20


async def test_select_then_delete_others(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    chosen, *others = batch.answers
    assert "delete_others" not in env.screen()  # nothing selected yet
    await env.click("select", chosen.id)
    await env.api.wait_until(lambda: "Selected by" in env.screen())
    await env.settle()
    card = dumps((await env.card_of(chosen.id)).blocks)
    assert "✅ Selected by <@U1>" in card and f"consensus:delete_others:{chosen.id}" in card, card
    for shown in (chosen.id, others[0].id):
        assert "confirm" in (await buttons_of(env, shown))[f"consensus:delete:{shown}"]  # Delete asks first
    assert "confirm" in (await buttons_of(env, chosen.id))[f"consensus:delete_others:{chosen.id}"]
    assert "delete_others" not in json.dumps(await buttons_of(env, others[0].id))
    for other in others:  # the others are collapsed to a line and can still be selected
        shown = dumps((await env.card_of(other.id)).blocks)
        assert f"consensus:select:{other.id}" in shown and "_Why:_" not in shown
    stored = await env.service.get_batch(batch.id, env.ws)
    assert [a.id for a in stored.answers if a.is_selected] == [chosen.id]
    assert "selected: " in dumps(env.parents()[0].blocks)

    await env.click("delete_others", chosen.id)
    await env.api.wait_until(lambda: len(env.api.args("chat.delete")) == 2)
    await env.settle()
    deleted = {(a["channel"], a["ts"]) for a in env.api.args("chat.delete")}
    refs = [await env.service.message_for(env.ws, "answer", o.id) for o in others]
    assert deleted == {(r.channel, r.message_id) for r in refs if r}
    assert len(env.cards()) == 1
    stored = await env.service.get_batch(batch.id, env.ws)
    assert {a.id for a in stored.answers if a.is_deleted} == {o.id for o in others}
    assert "delete_others" not in dumps((await env.card_of(chosen.id)).blocks)
    assert "2 deleted" in dumps(env.parents()[0].blocks)


async def test_delete_removes_the_card(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    victim = batch.answers[1]
    await env.click("delete", victim.id)
    await env.api.wait_until(lambda: len(env.api.args("chat.delete")) == 1)
    await env.settle()
    assert (await env.card_of(victim.id)).deleted
    assert len(env.cards()) == 2
    assert (await env.service.get_answer(victim.id, env.ws)).is_deleted


async def test_click_by_someone_else_is_refused_and_nothing_changes(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    before, stored_before = snapshot(env), await env.service.get_batch(batch.id, env.ws)
    for verb in ("select", "delete", "delete_others"):
        await env.click(verb, batch.answers[0].id, user="U2")
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 3)
    await env.settle()
    assert snapshot(env) == before
    assert await env.service.get_batch(batch.id, env.ws) == stored_before
    for note in env.api.ephemeral:
        assert note["user"] == "U2" and "Only the person who asked" in note["text"]
        assert note["thread_ts"] == env.thread_ts()


async def test_workspace_admin_may_delete(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    await env.click("delete", batch.answers[0].id, user="UADMIN")
    await env.api.wait_until(lambda: len(env.api.args("chat.delete")) == 1)
    assert (await env.service.get_answer(batch.answers[0].id, env.ws)).is_deleted
    assert len([a for a in env.api.args("users.info") if a["user"] == "UADMIN"]) == 1
    await env.click("delete", batch.answers[1].id, user="UADMIN")  # cached: no second users.info
    await env.api.wait_until(lambda: len(env.api.args("chat.delete")) == 2)
    assert len([a for a in env.api.args("users.info") if a["user"] == "UADMIN"]) == 1


async def test_forged_id_from_another_workspace_is_refused(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    before, stored_before = snapshot(env), await env.service.get_batch(batch.id, env.ws)
    await env.click("delete", batch.answers[0].id, user="U1", team="T2")
    await env.click("expand", batch.answers[0].id, user="U1", team="T2")
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 2)
    await env.settle()
    assert snapshot(env) == before
    assert await env.service.get_batch(batch.id, env.ws) == stored_before
    assert [n["text"] for n in env.api.ephemeral] == ["That answer does not exist in this workspace."] * 2


async def test_failed_model_shows_retry_and_retry_fills_the_card(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.script("messages", [unauthorized()])  # Claude's key is rejected once
    batch = await env.ask()
    failed = next(a for a in batch.answers if a.status is AnswerStatus.FAILED)
    card = dumps((await env.card_of(failed.id)).blocks)
    assert f"consensus:retry:{failed.id}" in card and "Failed" in card
    assert "2/3 answered" in dumps(env.parents()[0].blocks) and "failed" in dumps(env.parents()[0].blocks)
    env.llm.script("messages", [Ok(text="Four, after all.")])
    await env.click("retry", failed.id)
    await env.api.wait_until(lambda: "Four, after all" in env.screen())
    await env.settle()
    assert (await env.service.get_answer(failed.id, env.ws)).status is AnswerStatus.COMPLETED
    assert "consensus:retry" not in dumps((await env.card_of(failed.id)).blocks)
    assert "3/3 answered" in dumps(env.parents()[0].blocks)


async def test_every_card_shows_its_rank_and_the_question_lists_the_ranking_with_links(slack_env: SlackEnv) -> None:
    env = slack_env
    batch = await env.ask()
    heads = [dumps((await env.card_of(a.id)).blocks) for a in batch.answers]
    assert sorted(re.search(r"\*(#\d) · ", h).group(1) for h in heads) == ["#1", "#2", "#3"]  # type: ignore[union-attr]
    parent = dumps(env.parents()[0].blocks)
    thread = env.thread_ts()
    for answer in batch.answers:
        ref = await env.service.message_for(env.ws, "answer", answer.id)
        assert ref is not None
        link = (
            f"https://consensus-test.slack.com/archives/{ref.channel}/p{ref.message_id.replace('.', '')}"
            f"?thread_ts={thread}&amp;cid={ref.channel}"
        )
        assert re.search(rf"<{re.escape(link)}\|#{answer.rank} {answer.label} \d+\.\d>", parent), parent
    assert "ranked by agreement" in parent

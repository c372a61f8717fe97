"""/consensus end to end: real Bolt over HTTP, the fake Slack Web API, the real core and fake models."""

from __future__ import annotations

import asyncio
import json
from functools import partial

from core.domain import AnswerStatus
from tests.adapters import scripted_whys
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.llm_server import Ok
from tests.fakes.slack_api import DROP, HTML_500, block_errors

dumps = partial(json.dumps, ensure_ascii=False)


async def test_question_posts_parent_and_cards_that_fill_and_rank(slack_env: SlackEnv) -> None:
    env = slack_env
    gate = asyncio.Event()
    for endpoint in ("chat", "messages"):
        env.llm.script(endpoint, [Ok(gate=gate)] * 3)
    env.api.delay["chat.postMessage"] = 0.2  # Slack is slow too: the ack must not wait for it
    status, _ = await env.command("What is 2+2?")
    assert status == 200 and not gate.is_set()  # acknowledged while every model is still thinking
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    assert all("waiting for the model" in dumps(c.blocks) for c in env.cards())
    parent = env.parents()[0]
    assert "What is 2+2?" in dumps(parent.blocks) and "asked by alice" in dumps(parent.blocks)
    gate.set()
    await env.settle()
    parent = env.parents()[0]
    assert "3/3 answered · ranked by agreement" in dumps(parent.blocks), dumps(parent.blocks, indent=1)
    for card in env.cards():
        shown = dumps(card.blocks)
        assert "/10 by agreement" in shown and "consensus:select:" in shown
    # every payload Slack received was valid Block Kit, sent without mention parsing
    for method in ("chat.postMessage", "chat.update"):
        for args in env.api.args(method):
            assert block_errors(args["blocks"]) == []
            assert "link_names" not in args
    assert all(args.get("parse") == "none" for args in env.api.args("chat.update"))
    stored = await env.service.get_batch(env.bot.renderer.threads.popitem()[1].batch.id, env.ws)
    assert stored.thread == parent.ts
    assert {a.status for a in stored.answers} == {AnswerStatus.COMPLETED}


async def test_usage_for_empty_command_and_help(slack_env: SlackEnv) -> None:
    for text in ("", "help"):
        status, body = await slack_env.command(text)
        assert status == 200
        reply = json.loads(body)
        assert reply["response_type"] == "ephemeral" and "8,000 characters" in dumps(reply["blocks"])
    assert slack_env.api.args("chat.postMessage") == []


async def test_too_long_question_is_refused_and_nothing_posted(slack_env: SlackEnv) -> None:
    status, _ = await slack_env.command("x" * 8001)
    assert status == 200
    await slack_env.api.wait_until(lambda: slack_env.api.responses)
    reply = slack_env.api.responses[0]
    assert reply["response_type"] == "ephemeral" and "8,000" in reply["text"]
    assert slack_env.api.args("chat.postMessage") == []
    assert slack_env.llm.calls == []
    assert await slack_env.service.history(slack_env.ws) == []


async def test_mentions_in_questions_and_answers_are_escaped(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.answers["gpt-test"] = "Ping <!here> and <@U123> & <!channel>"
    await env.ask("Tell <!channel> about <@U999>")
    everything = dumps(
        [(a.get("text"), a.get("blocks")) for m in ("chat.postMessage", "chat.update") for a in env.api.args(m)]
    )
    for token in ("<!channel>", "<!here>", "<@U123>", "<@U999>"):
        assert token not in everything
    assert "&lt;!channel&gt;" in dumps(env.parents()[0].blocks)
    assert "&lt;!here&gt;" in everything and "&lt;@U123&gt;" in everything


async def test_rate_limited_updates_still_leave_every_card_final(slack_env: SlackEnv) -> None:
    env = slack_env
    env.api.rate_limit_next["chat.update"].extend([1, 0, 0, 0, 0])
    batch = await env.ask()
    assert env.api.named("chat.update")
    for answer in batch.answers:
        card = await env.card_of(answer.id)
        assert "/10 by agreement" in dumps(card.blocks)
    assert "ranked by agreement" in dumps(env.parents()[0].blocks)


async def test_updates_that_fail_once_on_slacks_side_still_leave_every_card_final(slack_env: SlackEnv) -> None:
    env = slack_env
    env.api.fail_next["chat.update"].extend([(200, "internal_error"), HTML_500, DROP, DROP, (503, "fatal_error")])
    batch = await env.ask()
    assert not env.api.fail_next["chat.update"]  # every failure happened
    for answer in batch.answers:
        assert "/10 by agreement" in dumps((await env.card_of(answer.id)).blocks)
    assert "3/3 answered · ranked by agreement" in dumps(env.parents()[0].blocks)


async def test_history_command_lists_and_searches(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask("Which database for analytics?")
    await env.command("history")
    await env.command("history nothingmatchesthis")
    await env.api.wait_until(lambda: len(env.api.responses) == 2)
    # the two replies are sent concurrently: either may arrive first
    replies = [dumps(r) for r in env.api.responses]
    listed = [r for r in replies if "Which database for analytics?" in r]
    empty = [r for r in replies if "No conversations" in r]
    assert len(listed) == 1 and len(empty) == 1 and listed != empty
    assert "open thread" in listed[0]
    assert all(r["response_type"] == "ephemeral" for r in env.api.responses)


async def test_streamed_text_shows_while_the_model_writes(slack_env: SlackEnv) -> None:
    env = slack_env
    gate = asyncio.Event()
    env.llm.script(
        "chat",
        [Ok(text="Partial words arrive one by one, then the rest.", chunks=8, chunk_delay=0.3)],
        model="gpt-test",
    )
    env.llm.script("messages", [Ok(gate=gate)])
    env.llm.script("chat", [Ok(gate=gate)], model="llama-test")
    await env.command("Stream please")
    await env.api.wait_until(lambda: "writing…" in env.screen() and "Partial word" in env.screen())
    gate.set()
    await env.settle()
    assert "writing…" not in env.screen() and "ranked by agreement" in env.screen()


async def test_answers_arriving_before_the_cards_are_posted_still_land(slack_env: SlackEnv) -> None:
    env = slack_env
    env.api.delay["chat.postMessage"] = 0.3  # the models finish while placeholders are being posted
    batch = await env.ask()
    for answer in batch.answers:
        assert "/10 by agreement" in dumps((await env.card_of(answer.id)).blocks)
    assert "3/3 answered · ranked by agreement" in env.screen()


async def test_a_batch_this_process_did_not_open_still_ends_final(slack_env: SlackEnv) -> None:
    """After a restart the core resumes unfinished questions; their cards must still end final."""
    env = slack_env
    gate = asyncio.Event()
    for endpoint in ("chat", "messages"):
        env.llm.script(endpoint, [Ok(gate=gate)] * 3)
    await env.command("Resumed question")
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    for thread in list(env.bot.renderer.threads.values()):
        await thread.posted.wait()  # every card is stored with its message
    env.bot.renderer.threads.clear()  # this process forgets the batch, as a new one would
    gate.set()
    await env.settle()
    assert "3/3 answered · ranked by agreement" in env.screen()
    assert all("/10 by agreement" in dumps(card.blocks) for card in env.cards())


async def test_streamed_text_refreshes_a_card_only_every_few_seconds(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.script(
        "chat", [Ok(text=" ".join(f"w{i}" for i in range(20)), chunks=20, chunk_delay=0.1)], model="gpt-test"
    )
    batch = await env.ask()
    gpt = next(a for a in batch.answers if a.provider_id == "openai/gpt-test")
    card = await env.card_of(gpt.id)
    previews = [
        c
        for c in env.api.args("chat.update")  # a writing card with text: head, preview, "writing…"
        if c.get("ts") == card.ts and "writing…" in dumps(c) and len(c["blocks"]) == 3
    ]
    assert len(previews) == 1  # twenty deltas in two seconds: one preview (after 1 s), then the final state


async def test_a_quick_answer_goes_straight_to_its_final_state(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.script("chat", [Ok(text="Short and sweet, streamed fast.", chunks=5, chunk_delay=0.05)], model="gpt-test")
    batch = await env.ask()
    gpt = next(a for a in batch.answers if a.provider_id == "openai/gpt-test")
    card = await env.card_of(gpt.id)
    assert not [c for c in env.api.args("chat.update") if c.get("ts") == card.ts and "writing…" in dumps(c)]


async def test_the_command_is_answered_before_its_cards_are_posted(slack_env: SlackEnv) -> None:
    """Slack gets its 200 as soon as the listener acknowledges, not once the listener is done."""
    env = slack_env
    env.api.delay["chat.postMessage"] = 0.5
    status, _ = await env.command("Quick ack please")
    assert status == 200
    assert env.parents() == []  # the question's message was still on its way
    await env.api.wait_until(lambda: len(env.parents()) == 1 and len(env.cards()) == 3)
    await env.settle()
    assert "3/3 answered · ranked by agreement" in env.screen()


async def test_stopping_waits_for_a_listener_still_posting_cards(slack_env: SlackEnv) -> None:
    env = slack_env
    env.api.delay["chat.postMessage"] = 0.3
    status, _ = await env.command("Asked just before a restart")
    assert status == 200 and env.bot.handlers is not None
    assert env.bot.handlers.listeners.running  # acknowledged, still posting
    await env.bot.handlers.listeners.settle(10)
    assert len(env.parents()) == 1 and len(env.cards()) == 3


async def test_each_card_shows_the_models_own_why_and_apart_what_decided_its_rank(slack_env: SlackEnv) -> None:
    env = slack_env
    scripted_whys.script(env.llm)
    done = await env.ask(scripted_whys.QUESTION)
    assert "2 of 3 answer 42; Ollama answers 44." in dumps(env.parents()[-1].blocks)
    for answer in done.answers:
        shown = dumps((await env.card_of(answer.id)).blocks)
        assert f"_Why:_ {scripted_whys.WHYS[answer.model]}" in shown, shown
        assert f"#{answer.rank} · " in shown
        expected = scripted_whys.DISSENT if answer.model == "llama-test" else scripted_whys.AGREE
        assert expected in shown and answer.rank_reason and expected in answer.rank_reason
        assert answer.reasoning == scripted_whys.WHYS[answer.model]  # stored as the model wrote it


async def test_a_question_is_stored_before_slack_hears_it_was_received(slack_env: SlackEnv) -> None:
    status, _ = await slack_env.command("Stored before the acknowledgement?")
    assert status == 200
    # no waiting: a process killed right after the acknowledgement still finds the question to finish
    [stored] = await slack_env.service.history(slack_env.ws)
    assert stored.title == "Stored before the acknowledgement?"
    await slack_env.settle()

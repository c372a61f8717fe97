"""Exactly once, whenever the process dies: `consensus serve` is SIGKILLed at several points of a
question's path (after the acknowledgement, between two posts, mid-answer, mid-rank, while the
final states are sent), restarted on the same database (SQLite and PostgreSQL), and every question it had
acknowledged shows once: its question and each card posted once, each in its final state.

One process is killed per point and the next one adopts what it left, so each point costs one
start-up. The ≥ 20 random kills per platform are `python -m bench.kills`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.adapters.discord.helpers import eventually
from tests.bot.crashes import ONCE, DiscordRig, SlackRig
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Hang
from tests.fakes.slack_api import FakeSlackAPI

REVIEWER = "openai/judge-test"  # a judge model: ranking is a call that can be in flight at the kill


async def new_batch(rig: SlackRig | DiscordRig, known: set[int]) -> tuple[int, set[int]]:
    """The batch of the question just asked, once it is stored."""
    batches = await eventually_async(rig.batches, lambda found: set(found) - known)
    [batch_id] = set(batches) - known
    return batch_id, batches[batch_id]


async def eventually_async(
    read: Callable[[], Awaitable[dict[int, set[int]]]], check: Callable[[dict[int, set[int]]], object]
) -> dict[int, set[int]]:
    for _ in range(1500):
        found = await read()
        if check(found):
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the question was never stored")


async def until(moment: Callable[[], object], what: str) -> None:
    """`moment` is a check, or a coroutine function for a check that reads the store."""
    for _ in range(300):
        found = moment()
        if await found if inspect.isawaitable(found) else found:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def test_slack_questions_are_delivered_once_whenever_the_process_is_killed(
    llm_server: FakeLLMServer, tmp_path: Path, database_url: str
) -> None:
    async with FakeSlackAPI() as slack, aiohttp.ClientSession() as session:
        slack.add_user("U1", "alice")
        rig = SlackRig(llm_server, tmp_path, slack, session, url=database_url, CONSENSUS_REVIEWER=REVIEWER)
        asked: dict[int, set[int]] = {}
        try:
            await rig.restart()

            async def kill_when(question: str, moment: Callable[[], object], what: str) -> None:
                assert await rig.ask(question), "the question was not acknowledged"
                batch_id, answers = await new_batch(rig, set(asked))
                asked[batch_id] = answers
                await until(moment, what)
                await rig.kill()
                slack.release_holds()
                slack.fail_next.clear()
                await rig.restart()
                for done_id, its_answers in asked.items():
                    await eventually(lambda b=done_id, a=its_answers: rig.done(b, a), f"question {done_id}", 30)

            # after the acknowledgement: whatever was posted by then
            await kill_when("Killed after the ack?", lambda: True, "the ack")
            # the question's message reached Slack, its reference was never stored
            slack.hold("chat.postMessage")
            await kill_when("Killed as the question posts?", lambda: slack.held, "the question posted")
            # between two posts: the first card reached Slack, its reference was never stored
            slack.held.clear()
            slack.hold("chat.postMessage", after=1)
            await kill_when("Killed between two posts?", lambda: slack.held, "the first card posted")
            # mid-answer: one model still writing
            llm_server.script("chat", [Hang(60)], model="gpt-test")
            before = len(llm_server.requests("chat", "gpt-test"))
            await kill_when(
                "Killed mid-answer?",
                lambda: (
                    len(llm_server.requests("chat", "gpt-test")) > before
                    and len(slack.args("chat.postMessage")) >= 4 * len(asked)  # a question and 3 cards each
                ),
                "the models asked, the cards posted",
            )
            # mid-rank: the judge still deciding
            llm_server.script("chat", [Hang(60)], model="judge-test")
            before = len(llm_server.requests("chat", "judge-test"))
            await kill_when(
                "Killed mid-rank?",
                lambda: len(llm_server.requests("chat", "judge-test")) > before,
                "the judge asked",
            )
            # ranked and stored, but the final states never reached Slack
            slack.fail_next["chat.update"].extend(["internal_error"] * 1000)
            await kill_when("Killed before the final states showed?", lambda: ranked_in_store(rig.url), "the ranking")

            outcomes = {batch_id: rig.outcome(batch_id, answers) for batch_id, answers in asked.items()}
            assert outcomes == dict.fromkeys(asked, ONCE)
        finally:
            await rig.close()
            rig.print_output()


def card_posts(fake: FakeDiscord) -> list[dict[str, object]]:
    """Every card the bot posted (each is sent with its answer's nonce)."""
    return [m for m in fake.messages.values() if str(m.get("nonce", "")).startswith("consensus-a")]


async def ranked_in_store(url: str) -> bool:
    """A question ranked and stored whose final states have not reached the platform."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            ranked = "SELECT count(*) FROM request_batches WHERE status = 'COMPLETED' AND delivered_at IS NULL"
            return bool((await conn.execute(text(ranked))).scalar())
    finally:
        await engine.dispose()


async def test_discord_questions_are_delivered_once_whenever_the_process_is_killed(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, world: p.World, tmp_path: Path, database_url: str
) -> None:
    rig = DiscordRig(llm_server, tmp_path, fake_discord, world, url=database_url, CONSENSUS_REVIEWER=REVIEWER)
    asked: dict[int, tuple[set[int], str]] = {}
    posts = "POST /channels/{id}/messages"
    try:
        await rig.restart()

        async def kill_when(question: str, moment: Callable[[], object], what: str) -> None:
            await rig.ask(question)
            batch_id, answers = await new_batch(rig, set(asked))
            asked[batch_id] = (answers, question)
            await until(moment, what)
            await rig.kill()
            fake_discord.release_holds()
            fake_discord._failures.clear()
            await rig.restart()
            for done_id, (its_answers, text) in asked.items():
                await eventually(lambda b=done_id, a=its_answers, q=text: rig.done(b, a, q), f"question {done_id}", 30)

        await kill_when("Killed after the ack?", lambda: True, "the ack")
        # the interaction's reply shows the question, its reference was never stored
        fake_discord.hold("PATCH /webhooks/{id}/{token}/messages/@original")
        await kill_when("Killed as the question shows?", lambda: fake_discord.held, "the question shown")
        fake_discord.held.clear()
        fake_discord.hold(posts)  # the first card reached Discord, its reference was never stored
        await kill_when("Killed between two posts?", lambda: fake_discord.held, "a card posted")
        llm_server.script("chat", [Hang(60)], model="gpt-test")
        before = len(llm_server.requests("chat", "gpt-test"))
        await kill_when(
            "Killed mid-answer?",
            lambda: (
                len(llm_server.requests("chat", "gpt-test")) > before
                and len(card_posts(fake_discord)) >= 3 * len(asked)
            ),
            "the models asked, the cards posted",
        )
        llm_server.script("chat", [Hang(60)], model="judge-test")
        before = len(llm_server.requests("chat", "judge-test"))
        await kill_when(
            "Killed mid-rank?", lambda: len(llm_server.requests("chat", "judge-test")) > before, "the judge asked"
        )
        outcomes = {batch_id: rig.outcome(batch_id, *asked[batch_id]) for batch_id in asked}
        assert outcomes == dict.fromkeys(asked, ONCE)
    finally:
        await rig.close()
        rig.print_output()

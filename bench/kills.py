"""Crash benchmark (issue 18): `consensus serve` SIGKILLed at a random moment of a question, over and
over, and what each acknowledged question shows afterwards: delivered once, duplicated, or lost.

    python -m bench.kills [--kills 20] [--only slack discord slack-postgres] [--no-write]

- slack / discord: SQLite; after each kill the next process starts on the same database and adopts
  what the dead one left.
- slack-postgres: two replicas on one PostgreSQL database (Slack over HTTP, as behind a load
  balancer); the one taking the commands is killed, the other takes its questions over, and a new
  replica is started beside it.

Every platform call answers 0.3 s after it took effect (a message exists before the bot hears of
it), so kills land between "posted" and "stored" too. A question counts once it was acknowledged
(Slack's command answered, Discord's interaction deferred); one not shown in full within 30 s of
the restart counts as lost.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

import aiohttp

from bench.common import PostgresUnavailable, scratch_postgres, table, write_section
from tests.adapters.discord.helpers import CARD_POST, ORIGINAL
from tests.bot.crashes import DUPLICATED, LOST, ONCE, DiscordRig, SlackRig, stored_questions
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlackAPI

LATENCY = 0.3  # seconds each platform call takes to answer, after it took effect
KILL_WITHIN = 2.5  # seconds after the command: the kill lands anywhere in the question's life
SETTLE = 30.0  # seconds a restarted process has to show every question in full


async def judged(rig: SlackRig | DiscordRig, acknowledged: list[str]) -> Counter[str]:
    """Wait (up to SETTLE) until every acknowledged question shows in full; then tally."""
    loop = asyncio.get_running_loop()
    end = loop.time() + SETTLE
    while True:
        found = await stored_questions(rig.url)
        stored = {question: (batch_id, answers) for batch_id, (question, answers) in found.items()}
        outcomes = Counter(_outcome(rig, stored.get(q), q) for q in acknowledged)
        if not outcomes[LOST] or loop.time() > end:
            return outcomes
        await asyncio.sleep(0.2)


def _outcome(rig: SlackRig | DiscordRig, found: tuple[int, set[int]] | None, question: str) -> str:
    if found is None:
        return LOST  # acknowledged, never stored
    batch_id, answers = found
    if isinstance(rig, SlackRig):
        return rig.outcome(batch_id, answers)
    return rig.outcome(batch_id, answers, question)


async def slack_kills(llm: FakeLLMServer, kills: int, url: str | None, tmp: Path) -> Counter[str]:
    async with FakeSlackAPI() as slack, aiohttp.ClientSession() as session:
        slack.add_user("U1", "alice")
        for method in ("chat.postMessage", "chat.update"):
            slack.hold(method, LATENCY, times=100_000)
        rig = SlackRig(llm, tmp, slack, session, url=url) if url else SlackRig(llm, tmp, slack, session)
        replicas = 2 if url else 1
        total: Counter[str] = Counter()
        try:
            ports = [await rig.restart() for _ in range(replicas)]
            for number in range(kills):
                active = rig.procs[-replicas]
                question = f"Kill {number}: does it survive?"
                asking = asyncio.create_task(rig.ask(question, ports[-replicas]))
                await asyncio.sleep(random.uniform(0, KILL_WITHIN))
                await rig.kill(active)
                acknowledged = [question] if await asking else []
                ports.append(await rig.restart())  # a restart, or a new replica beside the survivor
                outcomes = await judged(rig, acknowledged)
                total.update(outcomes)
                total["not acknowledged"] += 1 - len(acknowledged)
                print(f"slack{' postgres' if url else ''} kill {number}: {dict(outcomes) or 'not acknowledged'}")
        finally:
            await rig.close()
        return total


async def discord_kills(llm: FakeLLMServer, kills: int, tmp: Path) -> Counter[str]:
    world = p.World()
    fake = FakeDiscord()
    fake.add_guild(world.guild())
    await fake.start()
    for route in (CARD_POST, ORIGINAL, "PATCH /channels/{id}/messages/{id}"):
        fake.hold(route, LATENCY, times=100_000)
    rig = DiscordRig(llm, tmp, fake, world)
    total: Counter[str] = Counter()
    try:
        await rig.restart()
        for number in range(kills):
            question = f"Kill {number}: does it survive?"
            await rig.ask(question)
            await asyncio.sleep(random.uniform(0, KILL_WITHIN))
            await rig.kill()
            acknowledged = [question] if rig.acknowledged(rig.asked[-1]) else []
            await rig.restart()
            outcomes = await judged(rig, acknowledged)
            total.update(outcomes)
            total["not acknowledged"] += 1 - len(acknowledged)
            print(f"discord kill {number}: {dict(outcomes) or 'not acknowledged'}")
    finally:
        await rig.close()
        await fake.stop()
    return total


async def run(parts: list[str], kills: int) -> str:
    rows = []
    async with FakeLLMServer() as llm:
        for part in parts:
            with tempfile.TemporaryDirectory() as tmp:
                if part == "slack":
                    found = await slack_kills(llm, kills, None, Path(tmp))
                    where = "Slack", "SQLite, restart"
                elif part == "discord":
                    found = await discord_kills(llm, kills, Path(tmp))
                    where = "Discord", "SQLite, restart"
                else:
                    try:
                        async with scratch_postgres("consensus_kills") as url:
                            found = await slack_kills(llm, kills, url, Path(tmp))
                    except PostgresUnavailable as exc:
                        print(exc)
                        continue
                    where = "Slack", "PostgreSQL, the other replica"
            rows.append((*where, kills, found[ONCE], found[DUPLICATED], found[LOST], found["not acknowledged"]))
    headers = ("platform", "database", "kills", "delivered once", "duplicated", "lost", "not acknowledged")
    return (
        f"SIGKILL at a random moment within {KILL_WITHIN} s of the command; every platform call answers "
        f"{LATENCY} s after it took effect.\n\n" + table(headers, rows)
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=20, help="kills per platform and database")
    ap.add_argument("--quick", action="store_true", help="5 kills each")
    ap.add_argument("--only", nargs="+", choices=["slack", "discord", "slack-postgres"])
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    body = asyncio.run(run(args.only or ["slack", "discord", "slack-postgres"], 5 if args.quick else args.kills))
    print("\n" + body)
    if not args.no_write:
        write_section("Crashes: delivered once, duplicated, lost", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

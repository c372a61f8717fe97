"""Killing `consensus serve` (SIGKILL) in the middle of a question and judging what the platform
shows afterwards: shared by the crash tests and `bench/kills.py`.

A rig runs one serve process at a time against a fake platform and one database; `restart()` starts
the next one, which adopts what the dead one left (its lease is short). `outcome(batch)` reads
the fake platform: "once" (the question and each card posted once, all in their final state),
"duplicated" (a message posted twice) or "lost" (a message missing or not final).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.adapters.discord.helpers import cards, eventually, field, slash
from tests.bot.processes import cli_env, consensus, ensure_stopped, free_port, listening, start
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import SlackSender

SIGNING = "crash-signing-secret"
LEASE_SECONDS = "1"  # a dead process's questions are adopted about a second after it died
ONCE, DUPLICATED, LOST = "once", "duplicated", "lost"


async def stored_batches(url: str) -> dict[int, set[int]]:
    """Every stored question's batch id -> its answers' ids."""
    return {batch_id: answers for batch_id, (_question, answers) in (await stored_questions(url)).items()}


async def stored_questions(url: str) -> dict[int, tuple[str, set[int]]]:
    """Every stored question's batch id -> its text and its answers' ids."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            asked = text(  # one statement: a question stored meanwhile comes whole or not at all
                "SELECT b.id, m.content, r.id FROM request_batches b JOIN messages m ON m.id = b.message_id "
                "LEFT JOIN ai_responses r ON r.batch_id = b.id"
            )
            batches: dict[int, tuple[str, set[int]]] = {}
            for batch_id, question, answer_id in await conn.execute(asked):
                answers = batches.setdefault(batch_id, (question, set()))[1]
                if answer_id is not None:
                    answers.add(answer_id)
            return batches
    finally:
        await engine.dispose()


async def _read_into(lines: list[str], stream: asyncio.StreamReader) -> None:
    """Read a process's output as it comes, so that it never waits on a full pipe."""
    async for raw in stream:
        lines.append(raw.decode(errors="replace").rstrip("\n"))


class Rig:
    """One serve process at a time, pointed at the fakes and one database."""

    def __init__(self, llm: FakeLLMServer, tmp_path: Path, url: str | None = None, **extra: str) -> None:
        self.llm, self.tmp_path = llm, tmp_path
        self.url = url or f"sqlite+aiosqlite:///{tmp_path}/consensus.db"
        self.extra = extra
        self.procs: list[asyncio.subprocess.Process] = []
        self.output: list[list[str]] = []  # each process's log lines, read as they come
        self._readers: list[asyncio.Task[None]] = []

    def env(self, **platform: str) -> dict[str, str]:
        return cli_env(
            self.llm,
            self.tmp_path,
            DATABASE_URL=self.url,
            CONSENSUS_LEASE_SECONDS=LEASE_SECONDS,
            **platform,
            **self.extra,
        )

    async def spawn(self, env: dict[str, str], ready: Callable[[], Any]) -> asyncio.subprocess.Process:
        if not self.procs and not self.url.startswith("sqlite"):  # PostgreSQL is migrated by the operator
            code, _, err = await consensus(self.tmp_path, env, "db", "upgrade")
            assert code == 0, err
        proc = await start(self.tmp_path, env, "serve")
        self.procs.append(proc)
        lines: list[str] = []
        self.output.append(lines)
        readers = [asyncio.create_task(_read_into(lines, s)) for s in (proc.stdout, proc.stderr) if s]
        self._readers += readers
        await eventually(lambda: proc.returncode is not None or ready(), "the serve process", limit=60)
        if proc.returncode is not None:
            await asyncio.gather(*readers)
            raise AssertionError("serve exited at start-up:\n" + "\n".join(lines[-40:]))
        return proc

    async def kill(self, proc: asyncio.subprocess.Process | None = None) -> None:
        """SIGKILL the process (the latest started): nothing of it runs after this."""
        proc = proc or self.procs[-1]
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    async def close(self) -> None:
        await ensure_stopped(*self.procs)
        await asyncio.gather(*self._readers)

    def print_output(self) -> None:
        """Each process's log, on standard output: pytest shows it with a failed test."""
        for n, lines in enumerate(self.output, 1):
            print(f"--- serve process {n} ---", *lines, sep="\n")

    async def batches(self) -> dict[int, set[int]]:
        return await stored_batches(self.url)


class SlackRig(Rig):
    def __init__(
        self, llm: FakeLLMServer, tmp_path: Path, slack: FakeSlackAPI, session: aiohttp.ClientSession, **extra: str
    ):
        super().__init__(llm, tmp_path, **extra)
        self.slack, self.session = slack, session
        self.port = free_port()

    async def restart(self) -> int:
        """Start the next process; its port takes the commands from now on."""
        self.port = free_port()
        env = self.env(
            SLACK_BOT_TOKEN="xoxb-crash",
            SLACK_SIGNING_SECRET=SIGNING,
            SLACK_API_URL=f"{self.slack.url}/api/",
            HOST="127.0.0.1",
            PORT=str(self.port),
        )
        port = self.port
        await self.spawn(env, lambda: listening(port))
        return port

    async def ask(self, question: str, port: int | None = None) -> bool:
        """Whether Slack heard the command acknowledged (a dead process never answers)."""
        sender = SlackSender(self.session, f"http://127.0.0.1:{port or self.port}/slack/events", SIGNING)
        try:
            status, _ = await sender.command(question, response_url=self.slack.response_url())
        except aiohttp.ClientError:
            return False
        return status == 200  # with the question's estimate, or nothing

    def outcome(self, batch_id: int, answers: set[int]) -> str:
        def payload(message: Any, kind: str) -> dict[str, Any]:
            metadata = message.metadata or {}
            return metadata.get("event_payload", {}) if metadata.get("event_type") == kind else {}

        top = [m for m in self.slack.channel("C1") if not m.thread_ts and not m.deleted]
        parents = [m for m in top if payload(m, "consensus_question").get("batch_id") == batch_id]
        if len(parents) > 1:
            return DUPLICATED
        if not parents:
            return LOST
        shown = [m for m in self.slack.thread("C1", parents[0].ts)]
        posted = Counter(payload(m, "consensus_card").get("answer_id") for m in shown)
        posted.pop(None, None)
        if any(n > 1 for n in posted.values()):
            return DUPLICATED
        head = json.dumps([parents[0].text, parents[0].blocks])
        final = all("/10 by" in json.dumps(m.blocks) for m in shown if payload(m, "consensus_card"))
        ranked = f"{len(answers)}/{len(answers)} answered" in head and "ranked by" in head
        return ONCE if set(posted) == answers and final and ranked else LOST

    def done(self, batch_id: int, answers: set[int]) -> bool:
        return self.outcome(batch_id, answers) != LOST


class DiscordRig(Rig):
    def __init__(self, llm: FakeLLMServer, tmp_path: Path, fake: FakeDiscord, world: p.World, **extra: str):
        super().__init__(llm, tmp_path, **extra)
        self.fake, self.world = fake, world
        self.asked: list[dict[str, Any]] = []  # the interactions pushed

    async def restart(self) -> None:
        env = self.env(
            DISCORD_TOKEN=self.fake.token,
            DISCORD_API_BASE=f"{self.fake.url}/api/v10",
            DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{self.fake.port}/gateway",
            DISCORD_GUILD_IDS=self.world.guild_id,
            HOST="127.0.0.1",
            PORT=str(free_port()),
        )
        sessions = len(self.fake.identified)
        await self.spawn(env, lambda: len(self.fake.identified) > sessions and self.fake._sessions)

    async def ask(self, question: str) -> None:
        self.asked.append(await slash(self.fake, self.world, "consensus", question=question))

    def acknowledged(self, interaction: dict[str, Any]) -> bool:
        return any(call.path.split("/")[-3] == interaction["id"] for call in self.fake.named(CALLBACK))

    def outcome(self, batch_id: int, answers: set[int], question: str) -> str:
        channel = self.fake.in_channel(self.world.channel_id)
        shown = [m for m in channel if not m["flags"] & 128 and _is_question(m, question)]
        if len(shown) > 1:
            return DUPLICATED
        if not shown or not shown[0].get("thread"):
            return LOST
        threads = [m for m in channel if m.get("thread") and _is_question(m, question)]
        if len(threads) > 1:
            return DUPLICATED
        posted = cards(self.fake, shown[0]["id"])
        if len(posted) > len(answers):
            return DUPLICATED
        final = len(posted) == len(answers) and all(field(c, "Score") for c in posted)
        head = shown[0]["content"]
        ranked = f"{len(answers)}/{len(answers)} answered" in head and "ranked by" in head
        return ONCE if final and ranked else LOST

    def done(self, batch_id: int, answers: set[int], question: str) -> bool:
        return self.outcome(batch_id, answers, question) != LOST


CALLBACK = "POST /interactions/{id}/{token}/callback"


def _is_question(message: dict[str, Any], question: str) -> bool:
    return question in json.dumps(message.get("embeds", []))

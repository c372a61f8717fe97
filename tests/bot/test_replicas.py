"""Two `consensus serve` replicas on one PostgreSQL database (Slack HTTP mode, as behind a load
balancer): one is SIGKILLed mid-question, the other finishes the question within the lease, and
every answer is stored and posted exactly once."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.adapters.discord.helpers import eventually
from tests.bot.processes import cli_env, consensus, ensure_stopped, free_port, listening, start
from tests.bot.test_ops import final, parents
from tests.conftest import _postgres_database
from tests.fakes.llm_server import FakeLLMServer, Hang
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import SlackSender

SIGNING = "replica-signing-secret"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    url, drop = await _postgres_database()
    try:
        yield url
    finally:
        await drop()


async def rows(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def test_a_killed_replica_s_question_is_finished_by_the_other_once(
    llm_server: FakeLLMServer, postgres_url: str, tmp_path: Path
) -> None:
    ports = free_port(), free_port()
    async with FakeSlackAPI() as slack, aiohttp.ClientSession() as session:
        slack.add_user("U1", "alice")

        def env(port: int) -> dict[str, str]:
            return cli_env(
                llm_server,
                tmp_path,
                DATABASE_URL=postgres_url,
                SLACK_BOT_TOKEN="xoxb-replicas",
                SLACK_SIGNING_SECRET=SIGNING,
                SLACK_API_URL=f"{slack.url}/api/",
                HOST="127.0.0.1",
                PORT=str(port),
                CONSENSUS_LEASE_SECONDS="2",
            )

        code, _, err = await consensus(tmp_path, env(ports[0]), "db", "upgrade")  # PostgreSQL: migrate first
        assert code == 0, err
        # Replica A's call to gpt-test never answers; the next call (replica B's) does.
        llm_server.script("chat", [Hang(120)], model="gpt-test")
        replicas = [await start(tmp_path, env(port), "serve") for port in ports]
        try:
            for proc, port in zip(replicas, ports, strict=True):
                await eventually(lambda p=proc, n=port: p.returncode is not None or listening(n), "a replica", 60)
            sender = SlackSender(session, f"http://127.0.0.1:{ports[0]}/slack/events", SIGNING)
            assert (await sender.command("Who finishes this?", response_url=slack.response_url()))[0] == 200

            async def two_stored() -> bool:
                done = await rows(postgres_url, "SELECT id FROM ai_responses WHERE status = 'completed'")
                return len(done) == 2

            for _ in range(600):
                if await two_stored() and len(slack.args("chat.postMessage")) == 4:
                    break
                await asyncio.sleep(0.05)
            assert await two_stored(), "replica A did not store the two quick answers"
            replicas[0].send_signal(signal.SIGKILL)  # mid-question: gpt-test is still hanging
            await replicas[0].wait()

            await eventually(lambda: final(slack, 0), "the question finished by replica B", limit=60)
            # the lease ends once the final cards are posted: the write that says so follows the post
            for _ in range(300):
                [batch] = await rows(postgres_url, "SELECT status, completed, lease_owner FROM request_batches")
                if batch["lease_owner"] is None:
                    break
                await asyncio.sleep(0.05)
            assert (batch["status"], batch["completed"], batch["lease_owner"]) == ("COMPLETED", 3, None)
            answers = await rows(postgres_url, "SELECT provider_id, status FROM ai_responses ORDER BY id")
            assert len(answers) == 3 and {a["status"] for a in answers} == {"completed"}

            [parent] = parents(slack)
            cards = slack.thread("C1", parent.ts)
            assert len(cards) == 3 and all("/10 by" in json.dumps(c.blocks) for c in cards), "a card is not final"
            posted = Counter((a["channel"], a.get("thread_ts")) for a in slack.args("chat.postMessage"))
            assert posted == {("C1", None): 1, ("C1", parent.ts): 3}, "a card or the question was posted twice"
            # the quick answers were not asked again; only the one in flight at the kill was
            asked = Counter(body["model"] for body in llm_server.requests("chat") + llm_server.requests("messages"))
            assert asked == {"gpt-test": 2, "claude-test": 1, "llama-test": 1}

            replicas[1].send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(replicas[1].wait(), 60) == 0
        finally:
            await ensure_stopped(*replicas)

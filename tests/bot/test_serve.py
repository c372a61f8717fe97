"""`consensus serve` as its own process, against the fake Discord and the fake model servers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.adapters.discord.helpers import cards, eventually, field, slash
from tests.bot.test_cli import cli_env, start
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Ok


def scored(fake: FakeDiscord, thread_id: str) -> list[dict[str, object]]:
    return [c for c in cards(fake, thread_id) if field(c, "Score")]


@pytest.fixture
def world() -> p.World:
    return p.World()


@pytest.fixture
async def fake_discord(world: p.World) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    fake.add_guild(world.guild())
    async with fake:
        yield fake


async def test_serve_answers_on_discord_and_stops_cleanly_on_sigterm(
        llm_server: FakeLLMServer, fake_discord: FakeDiscord, world: p.World, tmp_path: Path) -> None:
    env = cli_env(llm_server, tmp_path, DISCORD_TOKEN=fake_discord.token,
                  DISCORD_API_BASE=f"{fake_discord.url}/api/v10",
                  DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{fake_discord.port}/gateway",
                  DISCORD_GUILD_IDS=world.guild_id)
    proc = await start(tmp_path, env, "serve")
    try:
        await eventually(lambda: fake_discord.commands.get(world.guild_id), "commands synced", limit=60)
        await eventually(lambda: fake_discord.identified, "the gateway session", limit=30)
        await slash(fake_discord, world, "consensus", question="Is this a real process?")
        [thread] = await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads", timeout=30)
        thread_id = thread.path.split("/")[-2]
        await eventually(lambda: len(scored(fake_discord, thread_id)) == 3, "three scored cards", limit=30)
        assert len(cards(fake_discord, thread_id)) == 3

        # A question in flight when SIGTERM arrives still completes before the process exits.
        llm_server.script("chat", [Ok("worth the wait", delay=1.0)], model="gpt-test")
        await slash(fake_discord, world, "consensus", question="Finish me during shutdown")
        await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads", 2, timeout=30)
        await llm_server.wait_for("POST /v1/chat/completions", 4, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    second = [t for t in fake_discord.named("POST /channels/{id}/messages/{id}/threads")][1].path.split("/")[-2]
    assert len(scored(fake_discord, second)) == 3, "the question in flight did not finish before the process stopped"

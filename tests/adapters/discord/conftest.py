"""Discord harness: the real discord.py bot, connected to the fake gateway + REST on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from adapters.discord.client import ConsensusBot, build_discord_bot, configure_endpoints
from adapters.retrying import Backoff
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

StartBot = Callable[..., Awaitable[ConsensusBot]]


@pytest.fixture
async def start_bot(fake_discord: FakeDiscord, world: p.World) -> AsyncIterator[StartBot]:
    """Starts bots against the fake (the endpoints are process globals: restored afterwards)."""
    before = configure_endpoints(f"{fake_discord.url}/api/v10", f"ws://127.0.0.1:{fake_discord.port}/gateway")
    running: list[ConsensusBot] = []

    async def start(service: Any, **options: Any) -> ConsensusBot:
        options.setdefault("guild_ids", (world.guild_id,))
        token = options.pop("token", fake_discord.token)
        options.setdefault("edit_retry", Backoff(base=0.01))
        bot = build_discord_bot(service, token=token, guild_ready_timeout=0.05, **options)
        running.append(bot)
        await bot.launch(ready_timeout=10)
        assert bot.ready_event.is_set(), "the bot never became ready"
        return bot

    try:
        yield start
    finally:
        for bot in reversed(running):
            await bot.stop()
        configure_endpoints(*before)  # type: ignore[arg-type]

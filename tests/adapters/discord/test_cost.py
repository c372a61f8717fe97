"""Cost on Discord, end to end: the question's message says its estimate, then the estimate beside
the cost; above the server's threshold the asker confirms privately first (Ask / Cancel), nothing is
stored before Ask, and a confirmation the process no longer holds (a restart) says so honestly;
`/consensus-settings` shows the threshold and today's spend."""

from __future__ import annotations

import copy
from typing import Any

from adapters.discord.confirm import NOT_HELD
from adapters.presenter import cost
from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import ORIGINAL, ask_in_channel, click, custom_ids, eventually, slash, text_of
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

PRICES = {"openai/gpt-test": (1000.0, 2000.0), "anthropic/claude-test": (500.0, 1000.0)}


def private_asks(fake: FakeDiscord, world: p.World) -> list[dict[str, Any]]:
    """The private estimates waiting for Ask / Cancel, oldest first."""
    return [
        m
        for m in fake.in_channel(world.channel_id)
        if m["flags"] & 64 and any(c.startswith("consensus-ask:") for c in custom_ids(m))
    ]


async def test_the_question_says_its_estimate_then_its_cost(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service(consensus_prices=PRICES)
    bot = await start_bot(service)
    thread_id, _cards = await ask_in_channel(fake_discord, world, bot, service, "What is 6 x 7?")
    question = fake_discord.messages[fake_discord.channels[thread_id]["id"]]  # the thread starts at the question
    shown = text_of(question)
    assert "estimated ≈ $" in shown and ", cost ≥ $" in shown and "(1 price unknown)" in shown


async def test_above_the_threshold_the_asker_confirms_first(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service(consensus_prices=PRICES)
    bot = await start_bot(service)
    ws = WorkspaceRef(Platform.DISCORD, world.guild_id)
    await slash(fake_discord, world, "consensus-settings", sub="limits", user=world.admin, confirm_above_usd=0.0001)
    [limits] = await fake_discord.wait_for(ORIGINAL)
    said = text_of(limits.json())
    assert "Confirm before asking above $0.0001 (estimated)" in said and "Spent today (UTC): $0.0000" in said

    await slash(fake_discord, world, "consensus", question="Worth it?")
    [first] = await eventually(lambda: private_asks(fake_discord, world), what="the private estimate")
    assert "above this workspace's $0.0001 threshold" in first["content"]
    assert await service.history(ws) == []
    public = [m for m in fake_discord.in_channel(world.channel_id) if not m["flags"] & 64]
    assert public == [] and fake_discord.deleted  # the public "thinking…" gave way to the private estimate
    await click(fake_discord, world, first, custom_ids(first)[1])  # Cancel
    await eventually(lambda: fake_discord.messages[first["id"]]["content"] == cost.CANCELLED, what="cancelled")
    assert await service.history(ws) == [] and fake_discord.messages[first["id"]]["components"] == []

    await slash(fake_discord, world, "consensus", question="Worth it now?")
    second = copy.deepcopy(await eventually(lambda: private_asks(fake_discord, world), what="a second estimate"))
    ask = custom_ids(second[0])[0]
    await click(fake_discord, world, second[0], ask, user=world.other)
    await eventually(lambda: any(cost.NOT_YOURS in m["content"] for m in fake_discord.messages.values()), what="no")
    await click(fake_discord, world, second[0], ask)
    await eventually(lambda: fake_discord.named("POST /channels/{id}/messages/{id}/threads"), what="the thread")
    await eventually(lambda: fake_discord.messages[second[0]["id"]]["content"] == cost.CONFIRMED, what="asked")
    await click(fake_discord, world, second[0], ask)  # a second Ask, as a client that has not refreshed
    await eventually(lambda: any(cost.ALREADY_ASKED in m["content"] for m in fake_discord.messages.values()), "once")
    await service.wait_idle()
    assert [c.title for c in await service.history(ws)] == ["Worth it now?"]

    await slash(fake_discord, world, "consensus", question="After a restart?")
    third = await eventually(lambda: private_asks(fake_discord, world), what="a third estimate")
    await bot.stop()  # the process that held the question is gone
    await start_bot(service)
    await click(fake_discord, world, third[0], custom_ids(third[0])[0])
    await eventually(lambda: any(NOT_HELD in m["content"] for m in fake_discord.messages.values()), what="honest")
    assert [c.title for c in await service.history(ws)] == ["Worth it now?"]

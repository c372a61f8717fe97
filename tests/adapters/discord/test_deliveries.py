"""A /consensus interaction that reaches the bot twice asks once, and the repeat says nothing."""

from __future__ import annotations

import logging

import pytest

from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import CALLBACK, FOLLOWUP, cards, eventually, settle, slash
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer

THREADS = "POST /channels/{id}/messages/{id}/threads"


async def test_an_interaction_delivered_twice_asks_once(
    fake_discord: FakeDiscord,
    world: p.World,
    start_bot: StartBot,
    make_service,
    llm_server: FakeLLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Even where the repeat can be acknowledged (the first never was, as Discord saw it), its id is
    stored with the question: no second question, no second thread, and its "thinking…" goes."""
    service = await make_service()
    bot = await start_bot(service)
    caplog.set_level(logging.WARNING)
    caplog.clear()  # what starting said
    first = await slash(fake_discord, world, "consensus", question="Asked once?")
    [thread_call] = await fake_discord.wait_for(THREADS)
    thread = thread_call.path.split("/")[-2]
    await eventually(lambda: len(cards(fake_discord, thread)) == 3, what="three cards")
    await fake_discord.push("INTERACTION_CREATE", first)  # the same interaction, accepted again
    await fake_discord.wait_for(CALLBACK, 2)
    repeat = fake_discord.interactions[first["token"]]
    await eventually(lambda: repeat["original"] in fake_discord.deleted, what="the repeat's reply removed")
    await settle(bot, service)
    assert len(fake_discord.named(THREADS)) == 1 and len(cards(fake_discord, thread)) == 3
    assert [c.questions for c in await service.history(world_ref(world))] == [1]
    assert len(llm_server.calls) == 3  # one paid answer per model
    assert fake_discord.named(FOLLOWUP) == []  # nobody was told anything
    assert [r.getMessage() for r in caplog.records if r.name.startswith(("adapters", "core"))] == []


async def test_a_replayed_interaction_that_discord_refuses_is_quiet(
    fake_discord: FakeDiscord,
    world: p.World,
    start_bot: StartBot,
    make_service,
    llm_server: FakeLLMServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway replay of an answered interaction: Discord refuses its acknowledgement (40060)."""
    service = await make_service()
    bot = await start_bot(service)
    caplog.set_level(logging.WARNING)
    caplog.clear()  # what starting said
    first = await slash(fake_discord, world, "consensus", question="Replayed?")
    [thread_call] = await fake_discord.wait_for(THREADS)
    await eventually(lambda: len(cards(fake_discord, thread_call.path.split("/")[-2])) == 3, what="three cards")
    await fake_discord.redeliver(first)
    await fake_discord.wait_for(CALLBACK, 2)  # the repeat tried to acknowledge, and was refused
    await settle(bot, service)
    assert len(fake_discord.named(CALLBACK)) == 2  # no second try to tell anyone
    assert len(fake_discord.named(THREADS)) == 1 and fake_discord.named(FOLLOWUP) == []
    assert [c.questions for c in await service.history(world_ref(world))] == [1]
    assert [r.getMessage() for r in caplog.records if r.name.startswith(("adapters", "core"))] == []


def world_ref(world: p.World) -> WorkspaceRef:
    return WorkspaceRef(Platform.DISCORD, world.guild_id)

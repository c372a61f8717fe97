"""Mentions never ping, 429s are waited out, bad input and foreign ids get a private answer."""

from __future__ import annotations

import json

from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CALLBACK,
    CARD_EDIT,
    CARD_POST,
    FOLLOWUP,
    ask_in_channel,
    button,
    card_of,
    cards,
    click,
    eventually,
    field,
    settle,
    slash,
    text_of,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer

PINGS = "Tell @everyone and @here about <@123456789012345678> and <@&223456789012345678>"


async def test_mentions_in_questions_and_answers_never_ping(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.answers["gpt-test"] = f"{PINGS}\nTL;DR: {PINGS}\nWHY: @everyone <@&223456789012345678>"
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, PINGS)
    card = card_of(fake_discord, thread, "gpt-test")
    await slash(fake_discord, world, "consensus-history", query="everyone")
    await fake_discord.wait_for("PATCH /webhooks/{id}/{token}/messages/@original", 2)
    await fake_discord.wait_for(CALLBACK, 2)
    await click(fake_discord, world, card, button(card, "expand"))
    await eventually(lambda: "Collapse" in json.dumps(card["components"]), what="expanded")
    await settle(bot, service)

    sent = [fake_discord.payload(w) for w in fake_discord.writes()]
    texts = [s.get("data", s) if "type" in s else s for s in sent]
    texts = [t for t in texts if t.get("content") or t.get("embeds")]  # a bare defer carries no text
    assert len(texts) >= 8
    for data in texts:
        assert data.get("allowed_mentions") == {"parse": []}, data
    for message in fake_discord.messages.values():
        shown = text_of(message)
        assert "@everyone" not in shown and "@here" not in shown
        assert "<@123456789012345678>" not in shown and "<@&223456789012345678>" not in shown


async def test_rate_limits_are_waited_out_and_every_card_ends_final(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    fake_discord.rate_limit(CARD_POST, times=1, retry_after=0.05)
    fake_discord.rate_limit(CARD_EDIT, times=3, retry_after=0.05)
    service = await make_service()
    bot = await start_bot(service)
    thread, final = await ask_in_channel(fake_discord, world, bot, service, "Slowly, please")
    await eventually(lambda: all(field(c, "Score") for c in cards(fake_discord, thread)), what="scored cards")
    assert fake_discord.limits_left(CARD_POST) == fake_discord.limits_left(CARD_EDIT) == 0
    assert len(final) == 3


async def test_empty_and_oversized_questions_get_a_private_answer_and_store_nothing(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    await start_bot(service)
    await slash(fake_discord, world, "consensus", question="   ")
    await slash(fake_discord, world, "consensus", question="x" * 8001)
    empty, long = (c.json() for c in await fake_discord.wait_for(CALLBACK, 2))
    assert empty["type"] == 4 and empty["data"]["flags"] == 64
    assert "/consensus question:" in empty["data"]["content"]
    assert long["type"] == 4 and long["data"]["flags"] == 64
    assert "8,000" in long["data"]["content"] and "8,001" in long["data"]["content"]
    assert await service.history(WorkspaceRef(Platform.DISCORD, world.guild_id)) == []
    assert not fake_discord.named(CARD_POST)


async def test_a_direct_message_is_answered_in_place(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    dm = p.dm_channel(world.asker)
    fake_discord.add_channel(dm)
    await slash(fake_discord, world, "consensus", dm=True, channel=dm, question="Just between us?")
    await fake_discord.wait_for(CARD_POST, 3)
    await settle(bot, service)
    assert not fake_discord.named("POST /channels/{id}/messages/{id}/threads")
    await eventually(
        lambda: len([c for c in cards(fake_discord, dm["id"]) if field(c, "Score")]) == 3,
        what="three final cards in the DM",
    )


async def test_an_id_from_another_server_is_refused_privately(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    elsewhere = p.World()
    fake_discord.add_guild(elsewhere.guild())
    service = await make_service()
    bot = await start_bot(service, guild_ids=(world.guild_id, elsewhere.guild_id))
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Mine")
    card = card_of(fake_discord, thread, "gpt-test")
    before = json.dumps(card)
    confirmed = button(card, "delete") + ":yes"  # past the confirmation step: the core refuses it
    forged = {
        **card,
        "channel_id": elsewhere.channel_id,
        "components": [{"type": 1, "components": [{"type": 2, "style": 4, "custom_id": confirmed}]}],
    }
    payload = p.button_click(
        fake_discord.app_id,
        forged,
        confirmed,
        channel=elsewhere.channel,
        guild_id=elsewhere.guild_id,
        mem=elsewhere.member(elsewhere.moderator),
    )
    await fake_discord.push("INTERACTION_CREATE", payload)
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    assert reply.json()["flags"] & 64 and "no longer exists" in reply.json()["content"]
    await settle(bot, service)
    assert json.dumps(card) == before and card["id"] not in fake_discord.deleted


async def test_history_lists_this_servers_conversations_with_jump_links(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Where do penguins live?")
    await slash(fake_discord, world, "consensus-history", query="penguins")
    await slash(fake_discord, world, "consensus-history", query="zebra")
    defers = (await fake_discord.wait_for(CALLBACK, 3))[1:]
    assert all(d.json() == {"type": 5, "data": {"flags": 64}} for d in defers)
    edits = [c.json() for c in await fake_discord.wait_for("PATCH /webhooks/{id}/{token}/messages/@original", 3)]
    [found] = [e for e in edits[1:] if e.get("embeds")]
    [none] = [e for e in edits[1:] if not e.get("embeds")]
    assert "Where do penguins live?" in found["embeds"][0]["description"]
    assert f"https://discord.com/channels/{world.guild_id}/{thread}" in found["embeds"][0]["description"]
    assert "No conversation matches" in none["content"]


async def test_without_permission_to_open_threads_the_cards_go_in_the_channel(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    fake_discord.fail("POST /channels/{id}/messages/{id}/threads")
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question="No threads here?")
    await fake_discord.wait_for(CARD_POST, 3)
    await settle(bot, service)
    await eventually(
        lambda: len([c for c in cards(fake_discord, world.channel_id) if field(c, "Score")]) == 3,
        what="three final cards in the channel",
    )
    assert not fake_discord.named(FOLLOWUP)  # not an error for the user


async def test_while_shutting_down_new_questions_are_refused_politely(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    bot.stop_intake()
    await slash(fake_discord, world, "consensus", question="Still there?")
    [refusal] = await fake_discord.wait_for(CALLBACK)
    assert refusal.json()["data"]["flags"] == 64 and "restarting" in refusal.json()["data"]["content"]
    assert await service.history(WorkspaceRef(Platform.DISCORD, world.guild_id)) == []

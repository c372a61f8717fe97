"""Export on Discord: the question's button attaches the decision record in the conversation's
thread, pinging no one; anyone in the server may export, nobody from another server; a failure is
one private message."""

from __future__ import annotations

import json
from typing import Any

from adapters.presenter import record
from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CARD_POST,
    FOLLOWUP,
    ask_in_channel,
    button,
    card_of,
    cards,
    click,
    eventually,
    field,
    has_button,
    settle,
    slash,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

QUESTION = "Ship the @everyone release <@&123> on Friday?"


def records(fake: FakeDiscord, thread: str) -> list[dict[str, Any]]:
    return [m for m in fake.in_channel(thread) if any(a["filename"].endswith(".md") for a in m["attachments"])]


async def asked(fake: FakeDiscord, world: p.World, bot: Any, service: Any) -> tuple[str, dict[str, Any]]:
    """A question with its answers in; its thread and the question's message (the thread's root)."""
    thread, _ = await ask_in_channel(fake, world, bot, service, QUESTION)
    root = fake.messages[thread]
    await eventually(lambda: has_button(root, "export"), what="Export on the question")
    return thread, root


async def click_export(fake: FakeDiscord, message: dict[str, Any], usr: dict[str, Any], world: p.World) -> None:
    channel = fake.channels[message["channel_id"]]
    payload = p.button_click(
        fake.app_id, message, button(message, "export"), channel=channel, guild_id=world.guild_id, mem=world.member(usr)
    )
    await fake.push("INTERACTION_CREATE", payload)


async def test_export_attaches_the_record_in_the_thread_for_anyone_in_the_server(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, root = await asked(fake_discord, world, bot, service)
    chosen = card_of(fake_discord, thread, "claude-test")
    await click(fake_discord, world, chosen, button(chosen, "select"), user=world.moderator)
    await eventually(lambda: field(chosen, "Selected"), what="the moderator's pick")
    await settle(bot, service)
    posts = len(fake_discord.named(CARD_POST))

    await click_export(fake_discord, root, world.other, world)  # a bystander: reading is for anyone
    [sent] = await eventually(lambda: records(fake_discord, thread), what="the record in the thread")
    [attachment] = sent["attachments"]
    assert attachment["filename"] == "Ship-the-everyone-release-123-on-Friday.md"
    assert attachment["description"] == f"Decision record: {QUESTION}"
    assert sent["content"] == f"📄 Decision record of this conversation, exported by <@{world.other['id']}>."

    call = fake_discord.named(CARD_POST)[posts]
    assert call.headers["Content-Type"].startswith("multipart/form-data")
    assert fake_discord.payload(call)["allowed_mentions"] == {"parse": []}

    ws = WorkspaceRef(Platform.DISCORD, world.guild_id)
    conversation = await service.get_conversation(await service.find_conversation(ws, world.channel_id, thread), ws)
    content = fake_discord.files[sent["id"]][attachment["filename"]].decode()
    names = {world.asker["id"]: "asker", world.moderator["id"]: "moderator"}  # as the server shows them
    assert content == record.markdown(conversation, names)
    assert "started by asker" in content and "Asked by asker" in content and "✓ selected by moderator" in content
    assert len(fake_discord.named("GET /guilds/{id}/members/{id}")) == 2  # the two people not clicking
    assert record.inert(QUESTION) in content  # a file pings no one; its Markdown shows the text as written
    for secret in (fake_discord.token, "sk-", "key", "consensus:", thread, root["id"], world.asker["id"]):
        assert secret not in content, secret
    await settle(bot, service)
    assert not fake_discord.named(FOLLOWUP)  # nothing to say: the file is in the thread


async def test_a_forged_export_from_another_server_attaches_nothing(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    elsewhere = p.World()
    fake_discord.add_guild(elsewhere.guild())
    service = await make_service()
    bot = await start_bot(service, guild_ids=(world.guild_id, elsewhere.guild_id))
    thread, root = await asked(fake_discord, world, bot, service)
    forged = {**root, "channel_id": elsewhere.channel_id}
    payload = p.button_click(
        fake_discord.app_id,
        forged,
        button(root, "export"),
        channel=elsewhere.channel,
        guild_id=elsewhere.guild_id,
        mem=elsewhere.member(elsewhere.asker),
    )
    await fake_discord.push("INTERACTION_CREATE", payload)
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    assert reply.json()["flags"] & 64 and "no longer exists" in reply.json()["content"]
    await settle(bot, service)
    assert not records(fake_discord, thread) and not records(fake_discord, elsewhere.channel_id)


async def test_without_the_attach_files_permission_the_clicker_is_told_privately(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, root = await asked(fake_discord, world, bot, service)
    fake_discord.fail(CARD_POST, 403, 50013, "Missing Permissions")
    await click_export(fake_discord, root, world.asker, world)
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    told = reply.json()
    assert told["flags"] & 64
    assert told["content"] == (
        "⚠️ I lack a permission here (send messages, create threads, embed links, or attach files)."
    )
    assert "Traceback" not in json.dumps(told)
    await settle(bot, service)
    assert not records(fake_discord, thread)

    await click_export(fake_discord, root, world.asker, world)  # once allowed, it works
    await eventually(lambda: records(fake_discord, thread), what="the record in the thread")


async def test_someone_discord_no_longer_knows_here_is_named_by_id_and_the_export_still_works(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, root = await asked(fake_discord, world, bot, service)
    chosen = card_of(fake_discord, thread, "gpt-test")
    await click(fake_discord, world, chosen, button(chosen, "select"), user=world.moderator)
    await eventually(lambda: field(chosen, "Selected"), what="the moderator's pick")
    await settle(bot, service)
    fake_discord.fail("GET /guilds/{id}/members/{id}", 404, 10007, "Unknown Member")  # the moderator left

    await click_export(fake_discord, root, world.asker, world)
    [sent] = await eventually(lambda: records(fake_discord, thread), what="the record in the thread")
    content = fake_discord.files[sent["id"]][sent["attachments"][0]["filename"]].decode()
    assert f"✓ selected by {world.moderator['id']}" in content and "Asked by asker" in content
    assert not fake_discord.named(FOLLOWUP)


async def test_in_a_direct_message_the_record_is_attached_in_place(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    dm = p.dm_channel(world.asker)
    fake_discord.add_channel(dm)
    await slash(fake_discord, world, "consensus", dm=True, channel=dm, question="Just between us?")
    await eventually(lambda: len([c for c in cards(fake_discord, dm["id"]) if field(c, "Score")]) == 3, what="cards")
    await settle(bot, service)
    [question] = [m for m in fake_discord.in_channel(dm["id"]) if m not in cards(fake_discord, dm["id"])]
    await eventually(lambda: has_button(question, "export"), what="Export on the question")

    payload = p.button_click(fake_discord.app_id, question, button(question, "export"), channel=dm, usr=world.asker)
    await fake_discord.push("INTERACTION_CREATE", payload)
    [sent] = await eventually(lambda: records(fake_discord, dm["id"]), what="the record in the DM")
    assert sent["attachments"][0]["filename"] == "Just-between-us.md"
    content = fake_discord.files[sent["id"]]["Just-between-us.md"].decode()
    assert "started by asker" in content and not fake_discord.named("GET /guilds/{id}/members/{id}")

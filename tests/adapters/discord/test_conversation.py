"""Buttons after a restart, follow-ups in the thread, and what the models are sent."""

from __future__ import annotations

import json

from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CARD_POST,
    ask_in_channel,
    button,
    card_of,
    cards,
    click,
    confirm,
    eventually,
    field,
    has_button,
    settle,
    slash,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer


async def test_buttons_keep_working_after_a_restart(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    first = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, first, service, "Survive a restart?")
    card = card_of(fake_discord, thread, "gpt-test")
    await first.close()

    again = await make_service()  # a new process: new client, new service, the same database
    second = await start_bot(again)
    assert second is not first
    await click(fake_discord, world, card, button(card, "select"))
    await eventually(lambda: field(card, "Selected"), what="the selection after the restart")
    await click(fake_discord, world, card, button(card, "expand"))
    await eventually(lambda: has_button(card, "collapse"), what="expanded after the restart")
    await settle(second, again)
    root = fake_discord.messages[thread]
    assert "selected: OpenAI" in root["content"]


async def test_follow_up_in_the_thread_sends_only_the_kept_context(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.answers.update(
        {
            "gpt-test": "KEPT-ANSWER Paris.",
            "claude-test": "DELETED-ANSWER Lyon.",
            "llama-test": "UNSELECTED-ANSWER Nice.",
        }
    )
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Capital of France?")
    kept, gone = card_of(fake_discord, thread, "gpt-test"), card_of(fake_discord, thread, "claude-test")
    await confirm(fake_discord, world, gone, "delete")
    await eventually(lambda: gone["id"] in fake_discord.deleted, what="the deleted card")
    await click(fake_discord, world, kept, button(kept, "select"))
    await eventually(lambda: field(kept, "Selected"), what="the selection")
    await settle(bot, service)
    seen = len(llm_server.calls)
    posts = len(fake_discord.named(CARD_POST))

    await slash(fake_discord, world, "consensus", channel=fake_discord.channels[thread], question="And its population?")
    await fake_discord.wait_for(CARD_POST, posts + 3)
    await settle(bot, service)
    bodies = [json.dumps(c.json()) for c in llm_server.calls[seen:]]
    assert len(bodies) == 3
    for body in bodies:
        assert "Capital of France?" in body and "And its population?" in body
        assert "KEPT-ANSWER" in body
        assert "DELETED-ANSWER" not in body and "UNSELECTED-ANSWER" not in body
    assert len(fake_discord.named("POST /channels/{id}/messages/{id}/threads")) == 1  # no new thread
    follow = [m for m in fake_discord.in_channel(thread) if "And its population?" in json.dumps(m["embeds"])]
    assert len(follow) == 1 and follow[0]["type"] == 20  # the question, as the command's reply
    assert len(cards(fake_discord, thread)) == 2 + 3


async def test_plain_replies_continue_only_with_the_message_content_intent(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    bot = await start_bot(service, message_content=True)
    assert fake_discord.identified[-1]["intents"] == (1 | 1 << 9 | 1 << 15)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "First question")
    channel = fake_discord.channels[thread]
    posts = len(fake_discord.named(CARD_POST))
    reply = p.user_message(
        channel, world.asker, "A plain follow-up", guild_id=world.guild_id, mem=world.member(world.asker)
    )
    await fake_discord.push("MESSAGE_CREATE", reply)
    await fake_discord.push("MESSAGE_CREATE", reply)  # a replayed event is handled once
    await fake_discord.wait_for(CARD_POST, posts + 4)  # the status reply + three cards
    await settle(bot, service)
    assert any("A plain follow-up" in json.dumps(c.json()) for c in llm_server.calls)
    assert len(fake_discord.named(CARD_POST)) == posts + 4

    other = p.user_message(world.channel, world.asker, "Not in a conversation", guild_id=world.guild_id)
    await fake_discord.push("MESSAGE_CREATE", other)
    await settle(bot, service)
    assert not any("Not in a conversation" in json.dumps(c.json()) for c in llm_server.calls)

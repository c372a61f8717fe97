"""Every card button, through real clicks on the messages the bot really sent."""

from __future__ import annotations

import re

from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    FOLLOWUP,
    ask_in_channel,
    button,
    card_of,
    cards,
    click,
    confirm,
    custom_ids,
    eventually,
    field,
    has_button,
    settle,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, unauthorized

LONG = " ".join(f"word{i}" for i in range(1500)) + "\nTL;DR: a very long answer.\nWHY: it is thorough."


async def test_expand_attaches_a_long_answer_and_collapse_returns_to_the_summary(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.answers["gpt-test"] = LONG
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Explain everything")
    card = card_of(fake_discord, thread, "gpt-test")
    assert card["embeds"][0]["description"] == "a very long answer."

    await click(fake_discord, world, card, button(card, "expand"), user=world.other)  # anyone may expand
    await eventually(lambda: card["attachments"], what="the answer attached")
    [name] = fake_discord.files[card["id"]]
    assert fake_discord.files[card["id"]][name].decode().startswith(LONG.split("\nTL;DR")[0])
    assert "attached" in card["embeds"][0]["description"]
    assert button(card, "collapse")

    await click(fake_discord, world, card, button(card, "collapse"))
    await eventually(lambda: not card["attachments"], what="the attachment removed")
    assert card["embeds"][0]["description"] == "a very long answer."
    assert button(card, "expand")


async def test_select_by_someone_else_is_refused_and_nothing_changes(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Who may pick?")
    card = card_of(fake_discord, thread, "gpt-test")
    before = (card["embeds"], card["components"], card["edited_timestamp"])

    await click(fake_discord, world, card, button(card, "select"), user=world.other)
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    body = reply.json()
    assert body["flags"] & 64  # ephemeral
    assert "asked" in body["content"]
    await settle(bot, service)
    assert (card["embeds"], card["components"], card["edited_timestamp"]) == before


async def test_select_by_the_asker_and_by_a_moderator(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Which one?")
    first, second = card_of(fake_discord, thread, "gpt-test"), card_of(fake_discord, thread, "claude-test")

    await click(fake_discord, world, first, button(first, "select"))
    await eventually(lambda: field(first, "Selected"), what="the selected mark")
    assert field(first, "Selected") == f"Selected by <@{world.asker['id']}>"
    assert not has_button(first, "select")
    root = fake_discord.messages[thread]
    await eventually(lambda: "selected: OpenAI" in root["content"], what="the kept answer in the status")

    await click(fake_discord, world, second, button(second, "select"), user=world.moderator)
    await eventually(lambda: field(second, "Selected"), what="the moderator's pick")
    assert field(second, "Selected") == f"Selected by <@{world.moderator['id']}>"
    await eventually(lambda: field(first, "Selected") is None, what="the mark moved")


async def test_delete_asks_first_and_delete_others_comes_only_with_a_selection(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, shown = await ask_in_channel(fake_discord, world, bot, service, "Prune")
    assert not any(has_button(c, "delete_others") for c in shown)  # nothing selected yet
    gpt, claude, llama = (card_of(fake_discord, thread, m) for m in ("gpt-test", "claude-test", "llama-test"))

    await confirm(fake_discord, world, llama, "delete")
    await eventually(lambda: llama["id"] in fake_discord.deleted, what="the card deleted")
    await click(fake_discord, world, gpt, button(gpt, "select"))
    await eventually(lambda: has_button(gpt, "delete_others"), what="Delete others on the selected card")
    assert not has_button(claude, "delete_others")
    await confirm(fake_discord, world, gpt, "delete_others")
    await eventually(lambda: claude["id"] in fake_discord.deleted, what="the other card deleted")
    await settle(bot, service)
    assert [c["id"] for c in cards(fake_discord, thread)] == [gpt["id"]]
    batch = await service.get_batch(1, WorkspaceRef(Platform.DISCORD, world.guild_id))
    assert [a.is_deleted for a in batch.answers] == [False, True, True]


async def test_every_card_shows_its_rank_and_the_question_lists_the_ranking_with_links(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, shown = await ask_in_channel(fake_discord, world, bot, service, "Rank them")
    ranks = sorted(c["embeds"][0]["title"].split(" · ")[0] for c in shown)
    assert ranks == ["#1", "#2", "#3"]
    root = fake_discord.messages[thread]
    for c in shown:
        rank, label = c["embeds"][0]["title"].split(" · ")[:2]
        url = f"https://discord.com/channels/{world.guild_id}/{thread}/{c['id']}"
        assert re.search(rf"\[{rank} {label} \d+\.\d\]\({re.escape(url)}\)", root["content"]), root["content"]
    assert "ranked by agreement" in root["content"]


async def test_retry_turns_a_failed_card_into_an_answer(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.script("messages", [unauthorized("anthropic")], model="claude-test")
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Try again")
    card = card_of(fake_discord, thread, "claude-test")
    assert "Failed" in card["embeds"][0]["description"]
    assert [cid.split(":")[1] for cid in custom_ids(card)] == ["retry", "delete"]

    await click(fake_discord, world, card, button(card, "retry"))
    await eventually(lambda: field(card, "Score"), what="the retried answer scored")
    assert "Failed" not in card["embeds"][0]["description"]

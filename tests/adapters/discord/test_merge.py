"""Merge on Discord: the button on the question's message, the merged card sent into the thread,
selected as the next follow-up's context, failed and retried; a click by someone else changes nothing."""

from __future__ import annotations

import json
from typing import Any

from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CARD_POST,
    FOLLOWUP,
    ORIGINAL,
    ask_in_channel,
    button,
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
from tests.fakes.llm_server import FakeLLMServer, server_error

ANSWERS = {"gpt-test": "GPT says four.", "claude-test": "Claude says 4.", "llama-test": "Llama says five."}
NAMES = {"gpt-test": "OpenAI", "claude-test": "Anthropic", "llama-test": "Ollama"}
MERGER = "openai/gpt-merge"
MERGED = (
    "Answers A and B agree on four; Answer C says five.\n"
    "CONSENSUS: Two answers say four, one says five.\n"
    "TL;DR: Two plus two is four.\n"
    "WHY: Counting agrees."
)


def script(llm_server: FakeLLMServer) -> None:
    llm_server.answers.update(ANSWERS)
    llm_server.answers["gpt-merge"] = MERGED


def merged_card(fake: FakeDiscord, thread: str) -> dict[str, Any] | None:
    found = [c for c in cards(fake, thread) if "Merged answer" in (c["embeds"][0].get("title") or "")]
    return found[0] if found else None


async def test_the_merge_button_sends_a_merged_card_with_names(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    script(llm_server)
    service = await make_service(consensus_merger=MERGER)
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "What is 2+2?")
    root = fake_discord.messages[thread]
    await eventually(lambda: has_button(root, "merge"), what="the Merge button on the question")

    await click(fake_discord, world, root, button(root, "merge"))
    merged = await eventually(lambda: merged_card(fake_discord, thread), what="the merged card")
    await eventually(lambda: "Two plus two is four." in merged["embeds"][0]["description"], what="the merge written")
    await settle(bot, service)
    assert len(cards(fake_discord, thread)) == 4
    sources = field(merged, "Sources")
    assert sources is not None and sources.startswith("Merged from A ·")
    assert has_button(merged, "select") and has_button(merged, "expand") and has_button(merged, "delete")
    assert "tokens" in (field(merged, "Usage") or "")

    body = llm_server.requests("chat", model="gpt-merge")[-1]
    sent = json.dumps(body["messages"])
    assert not any(name in sent for name in [*NAMES, *NAMES.values()])
    assert "[Quoted Answer A]" in sent and "[Quoted Answer C]" in sent

    await eventually(lambda: "Two answers say four, one says five." in root["content"], what="the merge's consensus")
    await eventually(lambda: not has_button(root, "merge"), what="the Merge button gone")
    assert "merged by gpt-merge" in root["content"]
    ws = WorkspaceRef(Platform.DISCORD, str(world.guild_id))
    conversation = await service.find_conversation(ws, str(world.channel["id"]), thread)
    stored = (await service.get_conversation(conversation, ws)).batches[0]
    assert stored.merge is not None and stored.merge.content is not None
    letters = dict(stored.merge.merged_from)
    assert f"Answers A and B ({letters['A']}, {letters['B']}) agree" in stored.merge.content

    # selected, it is the context of the next follow-up
    await click(fake_discord, world, merged, button(merged, "select"))
    await eventually(lambda: field(merged, "Selected"), what="the merge selected")
    await settle(bot, service)
    posts = len(fake_discord.named(CARD_POST))
    await slash(fake_discord, world, "consensus", channel=fake_discord.channels[thread], question="And times three?")
    await fake_discord.wait_for(CARD_POST, posts + 3)
    await settle(bot, service)
    follow = [
        json.dumps(b) for b in llm_server.requests("chat", model="gpt-test") if "And times three?" in json.dumps(b)
    ]
    assert follow and f"Quoted answer merged by {MERGER}" in follow[-1] and "GPT says four." not in follow[-1]


async def test_a_failed_merge_is_retried_on_its_card(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    script(llm_server)
    llm_server.script("chat", [server_error("openai")] * 4, model="gpt-merge")
    service = await make_service(consensus_merger=MERGER)
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "What is 2+2?")
    root = fake_discord.messages[thread]
    await eventually(lambda: has_button(root, "merge"), what="the Merge button")
    await click(fake_discord, world, root, button(root, "merge"))
    merged = await eventually(lambda: merged_card(fake_discord, thread), what="the merged card")
    await eventually(lambda: "Failed" in merged["embeds"][0]["description"], what="the merge failed")
    await settle(bot, service)
    assert "OpenAI" in merged["embeds"][0]["description"]

    await click(fake_discord, world, merged, button(merged, "retry"))
    await eventually(lambda: "Two plus two is four." in merged["embeds"][0]["description"], what="the merge written")
    await settle(bot, service)
    assert len(cards(fake_discord, thread)) == 4  # the same card, written again


async def test_merge_by_someone_else_is_refused(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    script(llm_server)
    service = await make_service(consensus_merger=MERGER)
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "What is 2+2?")
    root = fake_discord.messages[thread]
    await eventually(lambda: has_button(root, "merge"), what="the Merge button")
    await click(fake_discord, world, root, button(root, "merge"), user=world.other)
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    assert reply.json()["flags"] & 64 and "asked" in reply.json()["content"]
    await settle(bot, service)
    assert merged_card(fake_discord, thread) is None and not llm_server.requests("chat", model="gpt-merge")
    assert has_button(root, "merge")


async def test_a_server_that_merges_after_every_question_gets_the_merge_without_a_click(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    script(llm_server)
    service = await make_service(consensus_merger=MERGER)
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus-settings", sub="merging", user=world.asker, when="auto")
    [refused] = await fake_discord.wait_for(ORIGINAL)
    assert "Only an admin" in refused.json()["content"]
    await slash(
        fake_discord, world, "consensus-settings", sub="merging", user=world.admin, when="auto", merger="ollama/nope"
    )
    [_, unknown] = await fake_discord.wait_for(ORIGINAL, 2)
    assert "Not a configured model: ollama/nope" in unknown.json()["content"]
    await slash(fake_discord, world, "consensus-settings", sub="merging", user=world.admin, when="auto")
    [*_, shown] = await fake_discord.wait_for(ORIGINAL, 3)
    merged_field = {f["name"]: f["value"] for f in shown.json()["embeds"][0]["fields"]}["Merged answer"]
    assert merged_field == "after every question"

    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "What is 2+2?", models=4)
    merged = merged_card(fake_discord, thread)
    assert merged is not None
    await eventually(lambda: "Two plus two is four." in merged["embeds"][0]["description"], what="the merge written")
    root = fake_discord.messages[thread]
    await eventually(lambda: "Two answers say four, one says five." in root["content"], what="the merge's consensus")
    assert not has_button(root, "merge")
    assert len(llm_server.requests("chat", model="gpt-merge")) == 1

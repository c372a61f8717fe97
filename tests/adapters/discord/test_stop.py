"""Stop on Discord: the question's message has Stop while a model writes; a Select meanwhile offers
the selecter "Stop the others" in an ephemeral message; a stop closes the model's stream and its card
says who stopped it (a mention that pings nobody)."""

from __future__ import annotations

from core.domain import AnswerStatus, Ending, Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    FOLLOWUP,
    button,
    card_of,
    cards,
    click,
    custom_ids,
    eventually,
    has_button,
    settle,
    slash,
    text_of,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Ok

SLOW = "gpt-test"
TEXT = "Arrived before the stop. " * 3 + "Never sent. " * 3


async def test_select_offers_stop_the_others_and_stop_closes_the_stream(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.script("chat", [Ok(TEXT, chunks=6, hold_after=3)], model=SLOW)
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question="Explain everything")
    calls = await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads")
    thread = calls[-1].path.split("/")[-2]
    await eventually(lambda: len(cards(fake_discord, thread)) == 3, what="3 cards")
    await llm_server.wait_until(lambda: SLOW in llm_server.held_streams, "the slow model held mid-answer")
    root = fake_discord.messages[thread]
    await eventually(lambda: has_button(root, "stop"), what="Stop on the question while a model writes")

    quick = card_of(fake_discord, thread, "claude-test")
    await eventually(lambda: has_button(quick, "select"), what="the quick answer's final card")
    await click(fake_discord, world, quick, button(quick, "select"))
    offers = await eventually(
        lambda: [m for m in fake_discord.in_channel(thread) if m["flags"] & 64 and "stop" in str(custom_ids(m))],
        what="the private offer to stop the others",
    )
    offer = offers[-1]
    assert custom_ids(offer) == [button(root, "stop")] and "OpenAI" in offer["content"]

    await click(fake_discord, world, root, button(root, "stop"), user=world.other)  # a bystander may not
    await eventually(
        lambda: any("asked" in (c.json().get("content") or "") for c in fake_discord.named(FOLLOWUP)),
        what="the refusal",
    )
    assert SLOW in llm_server.held_streams

    await click(fake_discord, world, offer, custom_ids(offer)[0])  # the offer's button stops them
    await llm_server.wait_until(lambda: SLOW in llm_server.closed_by_client, "the stream closed by the bot")
    await settle(bot, service)
    slow = card_of(fake_discord, thread, SLOW)
    await eventually(lambda: "Stopped by" in text_of(slow), what="the stopped card")
    assert f"<@{world.asker['id']}>" in text_of(slow) and has_button(slow, "retry")
    await eventually(lambda: not has_button(root, "stop"), what="Stop gone once nothing writes")
    assert "stopped" in root["content"]
    ws = WorkspaceRef(Platform.DISCORD, world.guild_id)
    answer = await service.get_answer(int(button(slow, "retry").split(":")[2]), ws)
    assert answer.status is AnswerStatus.COMPLETED and answer.ended == Ending.STOPPED
    assert answer.content and "Arrived before the stop" in answer.content and "Never sent" not in answer.content

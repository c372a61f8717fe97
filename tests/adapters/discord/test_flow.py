"""/consensus end to end: real discord.py on the fake gateway + REST, the real core on the fake LLMs."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import ConfigError, ConsensusError
from tests.adapters import scripted_whys
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CALLBACK,
    CARD_EDIT,
    CARD_POST,
    ask_in_channel,
    button,
    card_of,
    cards,
    click,
    confirm,
    eventually,
    field,
    settle,
    slash,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Ok


async def test_question_opens_a_thread_with_a_card_per_model(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    stored: list[tuple[list[str], str | None]] = []
    store_refs = service.cards_posted

    async def cards_posted(workspace, refs, *, conversation_id=None, thread=None):  # type: ignore[no-untyped-def]
        stored.append(([kind for kind, *_ in refs], thread))
        await store_refs(workspace, refs, conversation_id=conversation_id, thread=thread)

    service.cards_posted = cards_posted
    bot = await start_bot(service)
    assert fake_discord.identified[-1]["intents"] == 1  # guilds only: no privileged intent
    synced = {c["name"] for c in fake_discord.commands[world.guild_id]}
    assert synced == {"consensus", "consensus-history", "consensus-keys", "consensus-leaderboard", "consensus-settings"}

    await slash(fake_discord, world, "consensus", question="What is the capital of France?")
    [defer] = await fake_discord.wait_for(CALLBACK)
    assert defer.json() == {"type": 5}
    [thread_call] = await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads")
    thread_id = thread_call.path.split("/")[-2]
    assert thread_id in fake_discord.channels
    await fake_discord.wait_for(CARD_POST, 3)
    await service.wait_idle()
    await bot.idle()
    final = await eventually(
        lambda: [c for c in cards(fake_discord, thread_id) if field(c, "Score")], what="three scored cards"
    )
    assert len(cards(fake_discord, thread_id)) == 3
    assert len(final) == 3
    root = fake_discord.messages[thread_id]
    await eventually(lambda: "ranked by agreement" in root["content"], what="a final status line")
    assert "What is the capital of France?" in root["embeds"][0]["description"]
    # each reference stored once: the question's as soon as it shows, then the thread, then each card
    assert stored == [(["batch"], None), ([], thread_id)] + [(["answer"], None)] * 3


async def test_a_streaming_answer_fills_its_card_about_once_a_second(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    llm_server.script("chat", [Ok(" ".join(f"w{i}" for i in range(40)), chunks=40, chunk_delay=0.05)], model="gpt-test")
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question="Stream it")
    await fake_discord.wait_for(CARD_POST, 3)
    await service.wait_idle()
    await bot.idle()
    edits = [fake_discord.payload(c) for c in fake_discord.named(CARD_EDIT)]
    gpt_edits = [b for b in edits if "gpt-test" in str(b.get("embeds"))]
    writing = [b for b in gpt_edits if "Writing" in str(b.get("embeds"))]
    assert 1 <= len(writing) <= 2  # 40 deltas over two seconds: a preview after 1 s and maybe one more
    assert len(gpt_edits) <= 4  # the previews, the final state and the ranked one; no edit for "started"
    card = await eventually(
        lambda: [c for c in fake_discord.messages.values() if "gpt-test" in str(c["embeds"]) and field(c, "Score")],
        what="final",
    )
    assert "Writing" not in str(card[0]["embeds"])


async def test_a_rejected_token_fails_at_start_up_naming_the_setting(
    fake_discord: FakeDiscord, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        await start_bot(service, token="wrong-token")


async def test_message_content_without_the_portal_switch_fails_at_start_up(
    fake_discord: FakeDiscord, start_bot: StartBot, make_service
) -> None:
    fake_discord.message_content_allowed = False
    service = await make_service()
    with pytest.raises(ConfigError, match="Message Content intent"):
        await start_bot(service, message_content=True)


@pytest.mark.parametrize(
    ("code", "error", "said"),
    [
        (4004, ConfigError, "Discord rejected DISCORD_TOKEN"),
        (4011, ConfigError, "set DISCORD_SHARD_COUNT"),
        (4013, ConsensusError, r"for good \(close code 4013\)"),
    ],
)
async def test_a_session_discord_ends_for_good_says_why_once_connected(
    fake_discord: FakeDiscord, start_bot: StartBot, make_service, code: int, error: type[Exception], said: str
) -> None:
    bot = await start_bot(await make_service())
    ended = asyncio.create_task(bot.ended())
    await asyncio.sleep(0.05)
    assert not ended.done()  # connected: nothing to say
    await fake_discord.close_sessions(code)
    with pytest.raises(error, match=said):
        await asyncio.wait_for(ended, 10)


async def test_each_card_shows_the_models_own_why_and_apart_what_decided_its_rank(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    scripted_whys.script(llm_server)
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question=scripted_whys.QUESTION)
    [thread_call] = await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads")
    thread_id = thread_call.path.split("/")[-2]
    await fake_discord.wait_for(CARD_POST, 3)
    await service.wait_idle()
    await bot.idle()
    ranked = await eventually(
        lambda: [c for c in cards(fake_discord, thread_id) if field(c, "Rank")], what="three cards with their rank"
    )
    assert len(ranked) == 3
    for message in ranked:
        model = next(m for m in scripted_whys.WHYS if m in message["embeds"][0]["title"])
        assert field(message, "Why") == scripted_whys.WHYS[model]
        rank = field(message, "Rank") or ""
        assert rank.startswith("#") and " · " in rank
        assert (scripted_whys.DISSENT if model == "llama-test" else scripted_whys.AGREE) in rank
    root = fake_discord.messages[thread_id]
    await eventually(lambda: scripted_whys.CONSENSUS in root["content"], what="the consensus line naming the dissent")


@pytest.mark.parametrize("failure", ["503", "dropped connection"])
async def test_an_edit_that_fails_once_is_sent_again(
    fake_discord: FakeDiscord,
    world: p.World,
    start_bot: StartBot,
    make_service,
    llm_server: FakeLLMServer,
    failure: str,
) -> None:
    """A 503 (which discord.py does not retry itself) or a dropped connection on the edit that shows
    a selection: the edit is sent again, and the card and the question end in their final state."""
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Which one?")
    await settle(bot, service)
    card = card_of(fake_discord, thread, "gpt-test")
    edits = len(fake_discord.named(CARD_EDIT))
    if failure == "503":
        fake_discord.fail(CARD_EDIT, status=503, code=0, message="upstream connect error")
    else:
        fake_discord.drop(CARD_EDIT, times=1)
    await click(fake_discord, world, card, button(card, "select"))
    await fake_discord.wait_for(CARD_EDIT, edits + 3)  # the failed edit, then the card's and the question's
    await settle(bot, service)
    assert field(card, "Selected")
    assert "selected: OpenAI" in fake_discord.messages[thread]["content"]


async def test_a_card_whose_deletion_fails_once_is_still_deleted(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Which one goes?")
    await settle(bot, service)
    card = card_of(fake_discord, thread, "claude-test")
    fake_discord.fail("DELETE /channels/{id}/messages/{id}", status=503, code=0, message="upstream connect error")
    await confirm(fake_discord, world, card, "delete")
    await eventually(lambda: card["id"] in fake_discord.deleted, what="the deleted card gone")
    assert len(fake_discord.named("DELETE /channels/{id}/messages/{id}")) == 2

"""With Discord a round trip away: the models are asked before Discord has answered anything, what
they said before their cards existed is on the cards, and the cards' final states go out together."""

from __future__ import annotations

from adapters.presenter.live import Pacing
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import CALLBACK, CARD_EDIT, CARD_POST, cards, eventually, field, slash
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Ok

THREAD = "POST /channels/{id}/messages/{id}/threads"


async def test_the_models_are_asked_before_the_deferral_is_answered(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question="Which port does SSH use?")
    await fake_discord.wait_for(CARD_POST, 3)  # the model clients are built by this first question
    await service.wait_idle()
    await bot.idle()
    fake_discord.call_latency = 0.3  # every REST call: the models answer before any of them returns

    await slash(fake_discord, world, "consensus", question="What is the capital of France?")
    [_, thread_call] = await fake_discord.wait_for(THREAD, 2)
    thread_id = thread_call.path.split("/")[-2]
    await fake_discord.wait_for(CARD_POST, 6)
    await service.wait_idle()
    await bot.idle()

    defer = fake_discord.named(CALLBACK)[-1]
    asked = [call.t for call in llm_server.calls if "capital of France" in call.body.decode()]
    assert len(asked) == 3
    assert defer.answered is not None and max(asked) < defer.answered

    # every event came before the cards existed: each card was still posted, and ends answered and ranked
    def scored() -> list[dict[str, object]]:
        return [c for c in cards(fake_discord, thread_id) if field(c, "Score")]

    final = await eventually(lambda: len(scored()) == 3 and scored(), what="three scored cards")
    assert len(cards(fake_discord, thread_id)) == 3
    assert all("capital of France" in str(c["embeds"]) for c in final)


async def test_the_final_states_of_a_new_threads_cards_are_in_flight_together(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    """discord.py sends one request at a time to a bucket it has not seen: the new thread's first
    edit (a card's text so far) goes out when the cards are posted, and the three ranked cards later
    go out at once instead of one round trip after another."""
    words = " ".join(f"w{i}" for i in range(60))
    for endpoint, model in (("chat", "gpt-test"), ("messages", "claude-test"), ("chat", "llama-test")):
        llm_server.script(endpoint, [Ok(words), Ok(words, chunks=60, chunk_delay=0.05)], model=model)  # then 3 s
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus", question="Which one is quick?")  # the edit route's bucket is known
    await fake_discord.wait_for(THREAD)
    await service.wait_idle()
    await bot.idle()
    # no preview near the end, and the answers (which end up to a second apart) wait for the ranking
    bot.board.live.pacing = Pacing(preview_every=60.0, first_preview_after=60.0, together=1.5)
    fake_discord.call_latency = 0.2
    await slash(fake_discord, world, "consensus", question="Which one is slow?")
    [_, thread_call] = await fake_discord.wait_for(THREAD, 2)
    thread_id = thread_call.path.split("/")[-2]
    await eventually(lambda: len([c for c in cards(fake_discord, thread_id) if field(c, "Score")]) == 3, limit=20)
    await service.wait_idle()
    await bot.idle()
    await bot.board.live.settle()  # the finished answers done waiting

    card_ids = {c["id"] for c in cards(fake_discord, thread_id)}
    edits = [c for c in fake_discord.named(CARD_EDIT) if c.path.rsplit("/", 1)[-1] in card_ids]
    last = {c.path: c for c in edits}  # each card's final state
    assert len(last) == 3 and len(edits) == 4  # the first edit, then one ranked edit per card
    assert "Writing" in str(edits[0].body)  # the first: a card's text so far
    assert all(c.answered is not None for c in last.values())
    assert max(c.t for c in last.values()) < min(c.answered or 0.0 for c in last.values())
    assert fake_discord.buckets.limited == 0

"""With Discord a round trip away: the models are asked before Discord has answered anything, and
what they said before their cards existed is on the cards."""

from __future__ import annotations

from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import CALLBACK, CARD_POST, cards, eventually, field, slash
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer

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

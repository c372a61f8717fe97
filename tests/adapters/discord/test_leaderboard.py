"""/consensus-leaderboard: a private embed with one bar per model, from this server's selections."""

from __future__ import annotations

from typing import Any

from core.domain import Actor, Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import ORIGINAL, ask_in_channel, slash
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord


def embed_of(call: Any) -> dict[str, Any]:
    embed: dict[str, Any] = call.json()["embeds"][0]
    return embed


async def test_the_leaderboard_shows_the_selected_models_bar_privately(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    assert any(c["name"] == "consensus-leaderboard" for c in fake_discord.commands[world.guild_id])
    ws = WorkspaceRef(Platform.DISCORD, world.guild_id)
    await ask_in_channel(fake_discord, world, bot, service, "Which database for events?")
    [summary] = await service.history(ws)
    detail = await service.get_conversation(summary.id, ws)
    chosen = detail.batches[0].answers[1]
    await service.select(chosen.id, Actor(ws, str(world.asker["id"])))

    before = len(fake_discord.named(ORIGINAL))  # the question's own message was an edit of its reply
    await slash(fake_discord, world, "consensus-leaderboard")
    shown = (await fake_discord.wait_for(ORIGINAL, before + 1))[-1]
    callback = fake_discord.named("POST /interactions/{id}/{token}/callback")[-1]
    embed = embed_of(shown)
    assert embed["title"] == "Consensus leaderboard" and "in this server, over the last 30 days" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields[chosen.provider_id].startswith("`████████████` 100% (21–100%)\n1 of 1 selected")
    others = [v for name, v in fields.items() if name != chosen.provider_id]
    assert len(others) == 2 and all(v.startswith("`░░░░░░░░░░░░` 0% (0–79%)") for v in others)
    assert embed["fields"][0]["name"] == chosen.provider_id  # best supported share first
    assert callback.json()["data"]["flags"] & 64  # only the asker sees it

    elsewhere = p.text_channel(world.guild_id, name="random")
    await slash(fake_discord, world, "consensus-leaderboard", channel=elsewhere, this_channel=True, days=7)
    narrow = (await fake_discord.wait_for(ORIGINAL, before + 2))[-1]
    embed = embed_of(narrow)
    assert f"in <#{elsewhere['id']}>, over the last 7 days" in embed["description"]
    assert "No answers in the last 7 days yet." in embed["description"] and not embed.get("fields")

"""`/consensus-settings`: models per channel through the select, limits, and refusals that only the
person sees (a budget or rate refusal on `/consensus` never shows in the channel)."""

from __future__ import annotations

import json
from typing import Any

from core.domain import Platform, WorkspaceRef
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CALLBACK,
    CARD_POST,
    FOLLOWUP,
    ORIGINAL,
    ask_in_channel,
    choose,
    eventually,
    slash,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer


def models_asked(llm: FakeLLMServer, question: str) -> list[str]:
    return sorted(json.loads(c.body)["model"] for c in llm.calls if question.encode() in c.body)


def select_message(fake: FakeDiscord) -> dict[str, Any]:
    """The private settings message carrying the models select."""
    return next(m for m in fake.messages.values() if m["flags"] & 64 and select_id(m))


def select_id(message: dict[str, Any]) -> str | None:
    found = [
        c["custom_id"] for row in message.get("components", []) for c in row.get("components", []) if c.get("type") == 3
    ]
    return found[0] if found else None


def fields(message: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message["embeds"][0]["fields"]}


async def test_an_admin_picks_the_models_of_a_channel_and_the_next_question_asks_only_those(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    [synced] = [c for c in fake_discord.commands[world.guild_id] if c["name"] == "consensus-settings"]
    assert synced["default_member_permissions"] == 32 and synced["dm_permission"] is False  # Manage Server
    await slash(fake_discord, world, "consensus-settings", sub="models", user=world.admin, where="channel")
    message = await eventually(
        lambda: select_message(fake_discord) if fake_discord.named(ORIGINAL) else None, what="the models select"
    )
    custom_id = select_id(message)
    assert custom_id == f"consensus-models:{world.channel_id}"
    [select] = message["components"][0]["components"]
    assert [o["value"] for o in select["options"]] == ["openai/gpt-test", "anthropic/claude-test", "ollama/llama-test"]
    assert select["min_values"] == 0 and select["max_values"] == 3

    await choose(fake_discord, world, message, custom_id, ["anthropic/claude-test"], user=world.admin)
    await eventually(
        lambda: fields(message)["Asked here"] == "`anthropic/claude-test`", what="the settings message updated"
    )
    [option] = [o for o in message["components"][0]["components"][0]["options"] if o["default"]]
    assert option["value"] == "anthropic/claude-test"

    await ask_in_channel(fake_discord, world, bot, service, "Only Claude here?", models=1)
    assert models_asked(llm_server, "Only Claude here?") == ["claude-test"]

    await slash(fake_discord, world, "consensus-settings", sub="show", user=world.admin)
    shown = await eventually(
        lambda: [m for m in fake_discord.messages.values() if m["flags"] & 64 and m["embeds"] and not select_id(m)],
        what="show",
    )
    assert fields(shown[0])["Asked here"] == "`anthropic/claude-test`"
    assert fields(shown[0])["Server's models"] == "all the operator's models (3)"


async def test_members_without_manage_server_cannot_change_settings(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    await start_bot(service)
    await slash(fake_discord, world, "consensus-settings", sub="models", user=world.moderator)
    [refusal] = await fake_discord.wait_for(CALLBACK)
    assert refusal.json()["data"]["flags"] == 64 and "Manage Server" in refusal.json()["data"]["content"]

    await slash(fake_discord, world, "consensus-settings", sub="models", user=world.admin)
    message = await eventually(
        lambda: select_message(fake_discord) if fake_discord.named(ORIGINAL) else None, what="the models select"
    )
    await choose(fake_discord, world, message, "consensus-models:server", ["openai/gpt-test"], user=world.asker)
    [forged] = await fake_discord.wait_for(FOLLOWUP)
    assert forged.json()["flags"] & 64 and "Only an admin" in forged.json()["content"]
    await slash(fake_discord, world, "consensus-settings", sub="limits", user=world.asker, daily_budget_usd=1.5)
    limits = (await fake_discord.wait_for(ORIGINAL, 2))[-1]
    assert "Only an admin" in limits.json()["content"]
    settings = await service.model_settings(WorkspaceRef(Platform.DISCORD, world.guild_id))
    assert settings.models == () and settings.daily_budget_usd is None


async def test_a_model_that_is_not_configured_is_refused_privately(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    await start_bot(service)
    await slash(fake_discord, world, "consensus-settings", sub="models", user=world.admin)
    message = await eventually(
        lambda: select_message(fake_discord) if fake_discord.named(ORIGINAL) else None, what="the models select"
    )
    await choose(
        fake_discord, world, message, "consensus-models:server", ["openai/gpt-9"], user=world.admin, forged=True
    )
    [reply] = await fake_discord.wait_for(FOLLOWUP)
    assert reply.json()["flags"] & 64
    assert reply.json()["content"].startswith("⚠️ Not a configured model: openai/gpt-9. Choose from:")


async def test_budget_and_rate_refusals_reach_only_the_asker(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service = await make_service()
    bot = await start_bot(service)
    await slash(fake_discord, world, "consensus-settings", sub="limits", user=world.admin, questions_per_minute=1)
    [shown] = await fake_discord.wait_for(ORIGINAL)
    assert {"name": "Questions per minute", "value": "1 per person", "inline": True} in shown.json()["embeds"][0][
        "fields"
    ]

    await ask_in_channel(fake_discord, world, bot, service, "The first one is fine")
    rate = await private_answer(fake_discord, world, question="And a second one?")
    assert rate["content"].startswith("⚠️ You have asked 1 questions in the last minute; the limit is 1.")

    await slash(
        fake_discord,
        world,
        "consensus-settings",
        sub="limits",
        user=world.admin,
        daily_budget_usd=0.0,
        questions_per_minute=5,
    )
    await eventually(
        lambda: (s := fake_discord.named(ORIGINAL)) and "$0.00 per day" in s[-1].body.decode(), what="the budget set"
    )
    posts = len(fake_discord.named(CARD_POST))
    budget = await private_answer(fake_discord, world, user=world.other, question="Over budget?")
    assert "daily budget" in budget["content"]
    assert fake_discord.named(FOLLOWUP) == []  # refused before anything was public: no "thinking…" to remove
    assert len(fake_discord.named(CARD_POST)) == posts
    public = [m for m in fake_discord.in_channel(world.channel_id) if not m["flags"] & 64]
    assert all("Over budget" not in json.dumps(m) and "second one" not in json.dumps(m) for m in public)


async def test_an_admin_limits_the_channels_and_elsewhere_only_the_asker_hears_where_to_ask(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service = await make_service()
    await start_bot(service)
    ws = WorkspaceRef(Platform.DISCORD, world.guild_id)
    await slash(fake_discord, world, "consensus-settings", sub="channels", user=world.asker, change="add")
    [refusal] = await fake_discord.wait_for(ORIGINAL)
    assert "Only an admin" in refusal.json()["content"]
    assert (await service.model_settings(ws)).allowed_channels is None

    await slash(fake_discord, world, "consensus-settings", sub="channels", user=world.admin, change="add")
    [_, shown] = await fake_discord.wait_for(ORIGINAL, 2)
    assert {"name": "Answers in", "value": f"<#{world.channel_id}>", "inline": False} in shown.json()["embeds"][0][
        "fields"
    ]
    assert (await service.model_settings(ws)).allowed_channels == (world.channel_id,)

    elsewhere = p.text_channel(world.guild_id, name="random")
    reply = await private_answer(fake_discord, world, channel=elsewhere, question="Anyone here?")
    assert reply["content"] == f"⚠️ Consensus does not answer in this channel. Ask in <#{world.channel_id}>."
    assert fake_discord.named("DELETE /webhooks/{id}/{token}/messages/@original") == []  # nothing public to remove
    assert llm_server.calls == [] and await service.history(ws) == []  # nothing spent, nothing stored

    await slash(fake_discord, world, "consensus-settings", sub="channels", user=world.admin, change="remove")
    [*_, last] = await fake_discord.wait_for(ORIGINAL, 3)
    assert "Choose at least one channel" in last.json()["content"]
    assert (await service.model_settings(ws)).allowed_channels == (world.channel_id,)
    await slash(fake_discord, world, "consensus-settings", sub="channels", user=world.admin, change="everywhere")
    await eventually(
        lambda: any("every channel" in c.body.decode() for c in fake_discord.named(ORIGINAL)), what="every channel"
    )
    assert (await service.model_settings(ws)).allowed_channels is None


async def private_answer(fake_discord: FakeDiscord, world: p.World, **options: Any) -> dict[str, Any]:
    """What `/consensus` answered, when it answered at once and only to the asker (a refusal is
    decided before anything is stored or shown)."""
    before = len(fake_discord.named(CALLBACK))
    await slash(fake_discord, world, "consensus", **options)
    answer = (await fake_discord.wait_for(CALLBACK, before + 1))[-1].json()
    assert answer["type"] == 4 and answer["data"]["flags"] & 64  # a message, ephemeral
    return dict(answer["data"])

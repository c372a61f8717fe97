"""`/consensus-keys`: the modal flow end to end, format and permission refusals, the live check,
listing and deleting, the "key paid" line on a card, and a plaintext key that never reaches Discord."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet

from adapters.discord.client import ConsensusBot
from core.domain import Actor, Platform, WorkspaceRef
from core.service import ConsensusService
from tests.adapters.discord.conftest import StartBot
from tests.adapters.discord.helpers import (
    CALLBACK,
    ORIGINAL,
    ask_in_channel,
    card_of,
    eventually,
    sent_bodies,
    slash,
    submit,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, unauthorized

USER_KEY = "sk-proj-DiscordUSERkeyAAAAAAAAAAAAAAAAAAAAAA12ab"
TEAM_KEY = "sk-proj-DiscordTEAMkeyBBBBBBBBBBBBBBBBBBBBBB3f9a"
VAULT = Fernet.generate_key().decode()


async def keyed(make_service: Any, start_bot: StartBot) -> tuple[ConsensusService, ConsensusBot]:
    service = await make_service(consensus_encryption_keys=VAULT)
    return service, await start_bot(service)


def actor(world: p.World, usr: dict[str, Any], admin: bool = False) -> Actor:
    return Actor(WorkspaceRef(Platform.DISCORD, world.guild_id), usr["id"], is_admin=admin)


async def open_form(
    fake: FakeDiscord, world: p.World, *, user: dict[str, Any] | None = None, **options: Any
) -> dict[str, Any]:
    """Run `/consensus-keys set …` and return the modal the bot opened."""
    command = await slash(fake, world, "consensus-keys", sub="set", user=user, **options)
    await eventually(lambda: any(m["interaction"]["id"] == command["id"] for m in fake.modals), what="the modal")
    return fake.modal_for(command)


def text_input(modal: dict[str, Any]) -> dict[str, Any]:
    [label] = modal["components"]
    assert label["type"] == 18  # a Label wrapping the input
    return dict(label["component"])


def _about_keys(fake: FakeDiscord, path: str) -> bool:
    interaction = fake.interactions[path.split("/")[-3]]["data"]
    return interaction["type"] == 5 or interaction["data"].get("name") == "consensus-keys"


async def replies(fake: FakeDiscord, count: int) -> list[str]:
    """The edits of the private replies to keys commands and forms, once there are `count`."""
    edits = await eventually(
        lambda: len(found := [c for c in fake.named(ORIGINAL) if _about_keys(fake, c.path)]) >= count and found,
        what=f"{count} replies",
    )
    return [c.json()["content"] for c in edits]


async def test_a_key_set_through_the_modal_is_stored_listed_used_and_never_sent_to_discord(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    service, bot = await keyed(make_service, start_bot)
    modal = await open_form(fake_discord, world, provider="openai", scope="me")
    [callback] = await fake_discord.wait_for(CALLBACK)
    assert callback.json()["type"] == 9
    field = text_input(modal)
    assert field["style"] == 1 and field["required"] is True and "value" not in field  # never prefilled
    assert field["max_length"] <= 4000 and modal["custom_id"].startswith("consensus-keys:openai:user")

    await submit(fake_discord, world, modal, {"key": f"  {USER_KEY}\n"})
    [saved] = await replies(fake_discord, 1)
    defer = (await fake_discord.wait_for(CALLBACK, 2))[1].json()
    assert defer == {"type": 5, "data": {"flags": 64}}  # private, thinking
    assert "Saved your openai key ••12ab" in saved
    [info] = await service.list_keys(actor(world, world.asker))
    assert (info.provider, info.scope, info.hint) == ("openai", "user", "••12ab")

    await slash(fake_discord, world, "consensus-keys", sub="list")
    [_, listed] = await replies(fake_discord, 2)
    assert "**openai** · yours · ••12ab · never used" in listed

    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Who pays for this?")
    footer = card_of(fake_discord, thread, "gpt-test")["embeds"][-1]["footer"]["text"]
    assert footer == "key: your key ••12ab"
    assert card_of(fake_discord, thread, "claude-test")["embeds"][-1]["footer"]["text"] == "key: operator"
    paid = [
        c.headers.get("authorization")
        for c in llm_server.calls
        if c.path == "/v1/chat/completions" and b"Who pays for this?" in c.body and b"gpt-test" in c.body
    ]
    assert paid == [f"Bearer {USER_KEY}"]  # the provider's own auth header: the only place it goes

    await slash(fake_discord, world, "consensus-keys", sub="delete", provider="openai", scope="me")
    assert "Deleted your openai key" in (await replies(fake_discord, 3))[-1]
    assert await service.list_keys(actor(world, world.asker)) == []
    assert not [body for body in sent_bodies(fake_discord) if USER_KEY.encode() in body]
    assert not [m for m in fake_discord.messages.values() if USER_KEY in str(m)]


async def test_a_badly_formed_key_is_refused_privately_and_nothing_is_stored(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service, _ = await keyed(make_service, start_bot)
    bad = "sk-ant-api03-PastedIntoTheWrongPlaceCCCCCCCCC9z9z"
    modal = await open_form(fake_discord, world, provider="openai")
    await submit(fake_discord, world, modal, {"key": bad})
    [refusal] = await replies(fake_discord, 1)
    assert refusal.startswith("⚠️ That key looks like it is for Anthropic, not OpenAI")
    [_, defer] = await fake_discord.wait_for(CALLBACK, 2)
    assert defer.json()["data"]["flags"] == 64
    assert await service.list_keys(actor(world, world.asker)) == []
    assert not [body for body in sent_bodies(fake_discord) if bad.encode() in body or b"9z9z" in body]


async def test_the_servers_key_needs_manage_server(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    service, bot = await keyed(make_service, start_bot)
    await slash(fake_discord, world, "consensus-keys", sub="set", provider="openai", scope="server")
    [refusal] = await fake_discord.wait_for(CALLBACK)
    assert refusal.json()["type"] == 4 and refusal.json()["data"]["flags"] == 64  # no form at all
    assert "Manage Server" in refusal.json()["data"]["content"] and not fake_discord.modals

    admin_form = await open_form(fake_discord, world, user=world.admin, provider="openai", scope="server")
    await submit(fake_discord, world, admin_form, {"key": TEAM_KEY}, user=world.asker)  # a forged submit
    [forged] = await replies(fake_discord, 1)
    assert forged.startswith("⚠️ Only an admin can change the team's keys")
    assert await service.list_keys(actor(world, world.admin)) == []

    await submit(fake_discord, world, admin_form, {"key": TEAM_KEY}, user=world.admin)
    assert "Saved the server's openai key ••3f9a" in (await replies(fake_discord, 2))[-1]
    thread, _ = await ask_in_channel(fake_discord, world, bot, service, "Paid by the team?")
    assert card_of(fake_discord, thread, "gpt-test")["embeds"][-1]["footer"]["text"] == "key: team ••3f9a"
    assert not [body for body in sent_bodies(fake_discord) if TEAM_KEY.encode() in body]


async def test_the_live_check_runs_after_the_ack_and_is_reported_privately(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service, llm_server: FakeLLMServer
) -> None:
    await keyed(make_service, start_bot)
    modal = await open_form(fake_discord, world, provider="openai", check=True)
    await submit(fake_discord, world, modal, {"key": USER_KEY})
    saving, done = await replies(fake_discord, 2)
    assert "Checking the key" in saving
    assert done.endswith("OpenAI accepted the key ••12ab.")
    [check] = [c for c in llm_server.calls if c.headers.get("authorization") == f"Bearer {USER_KEY}"]
    [_, defer] = await fake_discord.wait_for(CALLBACK, 2)
    assert defer.t < check.t  # the provider was called only once the submit was acknowledged

    llm_server.script("chat", [unauthorized("openai")], model="gpt-test")
    modal = await open_form(fake_discord, world, provider="openai", check=True)
    await submit(fake_discord, world, modal, {"key": USER_KEY})
    assert (await replies(fake_discord, 4))[-1].endswith("OpenAI rejected the key ••12ab.")
    assert not [body for body in sent_bodies(fake_discord) if USER_KEY.encode() in body]


async def test_an_unknown_provider_gets_the_list_and_no_form(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    await keyed(make_service, start_bot)
    await slash(fake_discord, world, "consensus-keys", sub="set", provider="@everyone")
    [reply] = await fake_discord.wait_for(CALLBACK)
    data = reply.json()["data"]
    assert data["flags"] == 64 and data["content"].startswith("Keys can be set for: ") and "openai" in data["content"]
    assert not fake_discord.modals


async def test_the_provider_is_completed_from_the_cores_list(
    fake_discord: FakeDiscord, world: p.World, start_bot: StartBot, make_service
) -> None:
    await keyed(make_service, start_bot)
    payload = p.autocomplete(
        fake_discord.app_id,
        "consensus-keys",
        {"provider": "an"},
        "provider",
        sub="set",
        channel=world.channel,
        guild_id=world.guild_id,
        mem=world.member(world.asker),
    )
    await fake_discord.push("INTERACTION_CREATE", payload)
    [reply] = await fake_discord.wait_for(CALLBACK)
    assert reply.json() == {"type": 8, "data": {"choices": [{"name": "anthropic", "value": "anthropic"}]}}

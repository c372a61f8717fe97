"""Small helpers for the Discord tests: push commands and clicks, read what the bot left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

CARD_POST = "POST /channels/{id}/messages"
CARD_EDIT = "PATCH /channels/{id}/messages/{id}"
CALLBACK = "POST /interactions/{id}/{token}/callback"
FOLLOWUP = "POST /webhooks/{id}/{token}"
ORIGINAL = "PATCH /webhooks/{id}/{token}/messages/@original"


async def eventually(check: Callable[[], Any], what: str = "condition", limit: float = 10.0) -> Any:
    """Poll until `check()` is truthy (state-based waiting; no timing is asserted)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while True:
        result = check()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def slash(
    fake: FakeDiscord,
    world: p.World,
    name: str,
    *,
    user: dict[str, Any] | None = None,
    channel: dict[str, Any] | None = None,
    dm: bool = False,
    sub: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """`/name [sub] option:value …` by `user` (the asker by default) in the world's channel."""
    usr = user or world.asker
    if dm:
        payload = p.slash_command(fake.app_id, name, options, channel=channel or p.dm_channel(usr), usr=usr, sub=sub)
    else:
        payload = p.slash_command(
            fake.app_id,
            name,
            options,
            channel=channel or world.channel,
            guild_id=world.guild_id,
            mem=world.member(usr),
            sub=sub,
        )
    await fake.push("INTERACTION_CREATE", payload)
    return payload


async def click(
    fake: FakeDiscord,
    world: p.World,
    message: dict[str, Any],
    custom_id: str,
    *,
    user: dict[str, Any] | None = None,
    guild_id: str | None = None,
) -> dict[str, Any]:
    usr = user or world.asker
    channel = fake.channels[message["channel_id"]]
    payload = p.button_click(
        fake.app_id, message, custom_id, channel=channel, guild_id=guild_id or world.guild_id, mem=world.member(usr)
    )
    await fake.push("INTERACTION_CREATE", payload)
    return payload


async def submit(
    fake: FakeDiscord,
    world: p.World,
    modal: dict[str, Any],
    values: dict[str, str],
    *,
    user: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fill in and submit a modal the bot opened (`fake.modal_for(command)`)."""
    payload = p.modal_submit(
        fake.app_id,
        modal,
        values,
        channel=world.channel,
        guild_id=world.guild_id,
        mem=world.member(user or world.asker),
    )
    await fake.push("INTERACTION_CREATE", payload)
    return payload


async def choose(
    fake: FakeDiscord,
    world: p.World,
    message: dict[str, Any],
    custom_id: str,
    values: list[str],
    *,
    user: dict[str, Any] | None = None,
    forged: bool = False,
) -> dict[str, Any]:
    """Pick `values` in a select of a message the bot sent."""
    payload = p.select_choice(
        fake.app_id,
        message,
        custom_id,
        values,
        channel=fake.channels[message["channel_id"]],
        guild_id=world.guild_id,
        mem=world.member(user or world.asker),
        forged=forged,
    )
    await fake.push("INTERACTION_CREATE", payload)
    return payload


def sent_bodies(fake: FakeDiscord) -> list[bytes]:
    """Everything the bot sent to the fake Discord: paths, headers and bodies of every request."""
    return [f"{c.method} {c.path} {dict(c.headers)}".encode() + c.body for c in fake.calls]


def cards(fake: FakeDiscord, thread_id: str) -> list[dict[str, Any]]:
    """The bot's card messages in a thread (messages with an embed titled by a model)."""
    return [m for m in fake.in_channel(thread_id) if m["embeds"] and m["embeds"][0].get("title") != "Question"]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row.get("components", [])]


def button(message: dict[str, Any], verb: str) -> str:
    found = [cid for cid in custom_ids(message) if cid.split(":")[1] == verb]
    assert found, f"no {verb} button on {message['id']}: {custom_ids(message)}"
    return found[0]


def field(message: dict[str, Any], name: str) -> str | None:
    for embed in message["embeds"]:
        for f in embed.get("fields", []):
            if f["name"] == name:
                return str(f["value"])
    return None


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("content") or ""]
    for embed in message["embeds"]:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


async def settle(bot: Any, service: Any) -> None:
    """Wait until the core is idle and every queued Discord edit was sent."""
    await service.wait_idle()
    await bot.idle()


async def ask_in_channel(
    fake: FakeDiscord, world: p.World, bot: Any, service: Any, question: str, models: int = 3
) -> tuple[str, list[dict[str, Any]]]:
    """/consensus in the world's channel; returns the thread id and its cards once all are final."""
    before = len(fake.named("POST /channels/{id}/messages/{id}/threads"))
    await slash(fake, world, "consensus", question=question)
    calls = await fake.wait_for("POST /channels/{id}/messages/{id}/threads", before + 1)
    thread_id = calls[-1].path.split("/")[-2]
    await eventually(lambda: len(cards(fake, thread_id)) == models, what=f"{models} cards")
    await settle(bot, service)
    final = await eventually(
        lambda: all(custom_ids(c) for c in cards(fake, thread_id)) and cards(fake, thread_id),
        what="final cards with buttons",
    )
    return thread_id, final


def card_of(fake: FakeDiscord, thread_id: str, label: str) -> dict[str, Any]:
    """The card whose title names `label` (e.g. "gpt-test")."""
    [found] = [c for c in cards(fake, thread_id) if label in (c["embeds"][0].get("title") or "")]
    return found


def has_button(message: dict[str, Any], verb: str) -> bool:
    return any(cid.split(":")[1] == verb for cid in custom_ids(message))


async def confirm(fake: FakeDiscord, world: p.World, card: dict[str, Any], verb: str) -> None:
    """Click `verb` on `card`, see the ephemeral confirmation (nothing deleted yet), confirm it."""
    before = set(fake.deleted)
    await click(fake, world, card, button(card, verb))
    step = await eventually(
        lambda: [
            m
            for m in fake.in_channel(card["channel_id"])
            if m["flags"] & 64 and any(c.endswith(":yes") for c in custom_ids(m))
        ],
        what=f"the confirmation of {verb}",
    )
    assert custom_ids(step[-1]) == [f"{button(card, verb)}:yes"]
    assert set(fake.deleted) == before  # asking deletes nothing
    await click(fake, world, step[-1], custom_ids(step[-1])[0])

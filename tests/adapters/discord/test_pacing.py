"""The edit pacer with the real discord.py against the fake Discord: the messages of a channel are
edited at once, one edit in flight per message, the latest state wins; and the fake's rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest

from adapters.discord.client import configure_endpoints
from adapters.discord.pacing import ChannelPacer, Job
from tests.adapters.discord.helpers import CARD_EDIT, CARD_POST
from tests.fakes import discord_payloads as p
from tests.fakes.base import Call
from tests.fakes.discord_server import FakeDiscord


@pytest.fixture
async def client(fake_discord: FakeDiscord) -> AsyncIterator[discord.Client]:
    """A logged-in discord.py client (REST only) pointed at the fake."""
    before = configure_endpoints(f"{fake_discord.url}/api/v10", f"ws://127.0.0.1:{fake_discord.port}/gateway")
    bot = discord.Client(intents=discord.Intents.none())
    try:
        await bot.login(fake_discord.token)
        yield bot
    finally:
        await bot.close()
        configure_endpoints(*before)  # type: ignore[arg-type]


def edit(message: discord.PartialMessage, text: str) -> tuple[str, str, Job]:
    async def job() -> None:
        await message.edit(content=text)

    return str(message.channel.id), str(message.id), job


def overlapping(calls: list[Call]) -> bool:
    """Whether every call was in flight while each of the others was (their intervals share a moment)."""
    assert all(c.answered is not None for c in calls)
    return max(c.t for c in calls) < min(c.answered for c in calls if c.answered is not None)


async def test_edits_of_different_messages_are_in_flight_together(
    fake_discord: FakeDiscord, world: p.World, client: discord.Client
) -> None:
    channel = client.get_partial_messageable(int(world.channel_id))
    sent = [await channel.send(content=f"card {i}") for i in range(3)]
    await sent[0].edit(content="warm")  # discord.py holds one request per bucket until it has seen its headers
    fake_discord.call_latency = 0.2
    pacer = ChannelPacer()
    try:
        for i, message in enumerate(sent):
            channel_id, key, job = edit(channel.get_partial_message(message.id), f"final {i}")
            pacer.submit(channel_id, key, job)
        await pacer.drain()
    finally:
        await pacer.aclose()
    finals = fake_discord.named(CARD_EDIT)[1:]
    assert len(finals) == 3 and overlapping(finals)
    assert [fake_discord.messages[str(m.id)]["content"] for m in sent] == ["final 0", "final 1", "final 2"]
    assert fake_discord.buckets.limited == 0


async def test_one_edit_per_message_in_flight_and_the_latest_state_wins(
    fake_discord: FakeDiscord, world: p.World, client: discord.Client
) -> None:
    channel = client.get_partial_messageable(int(world.channel_id))
    message = channel.get_partial_message((await channel.send(content="card")).id)
    fake_discord.call_latency = 0.1
    pacer = ChannelPacer()
    try:
        pacer.submit(*edit(message, "writing"))
        await fake_discord.wait_for(CARD_EDIT)  # in flight
        for state in ("more", "final"):
            pacer.submit(*edit(message, state))
        assert pacer.busy(str(channel.id))  # "more", then "final" in its place, waits for "writing"
        await pacer.drain()
    finally:
        await pacer.aclose()
    edits = fake_discord.named(CARD_EDIT)
    assert [FakeDiscord.payload(c)["content"] for c in edits] == ["writing", "final"]  # "more" was replaced
    assert edits[0].answered is not None and edits[0].answered <= edits[1].t
    assert fake_discord.messages[str(message.id)]["content"] == "final"
    assert not pacer.busy(str(channel.id))


async def test_the_fake_counts_each_route_per_channel_and_refuses_past_the_limit(world: p.World) -> None:
    fake = FakeDiscord(bucket_limit=2, bucket_window=30.0)
    fake.add_guild(world.guild())
    other = p.text_channel(world.guild_id)
    fake.add_channel(other)
    async with fake, aiohttp.ClientSession(headers={"Authorization": f"Bot {fake.token}"}) as http:

        async def post(channel: str) -> aiohttp.ClientResponse:
            async with http.post(f"{fake.url}/api/v10/channels/{channel}/messages", json={"content": "x"}) as r:
                await r.read()
                return r

        first, second, third = [await post(world.channel_id) for _ in range(3)]
        elsewhere = await post(other["id"])
        async with http.get(f"{fake.url}/api/v10/channels/{world.channel_id}") as read:
            await read.read()

        assert [first.status, second.status, third.status, elsewhere.status] == [200, 200, 429, 200]
        assert [r.headers["X-RateLimit-Remaining"] for r in (first, second, third, elsewhere)] == ["1", "0", "0", "1"]
        assert {r.headers["X-RateLimit-Limit"] for r in (first, third, elsewhere)} == {"2"}
        assert first.headers["X-RateLimit-Bucket"] == elsewhere.headers["X-RateLimit-Bucket"]  # one route
        assert read.headers["X-RateLimit-Bucket"] != first.headers["X-RateLimit-Bucket"]  # another route
        assert read.headers["X-RateLimit-Remaining"] == "1"
        assert 0 < float(first.headers["X-RateLimit-Reset-After"]) <= 30
        assert float(first.headers["X-RateLimit-Reset"]) > 1e9  # epoch seconds
        refusal = await third.json()
        assert refusal["global"] is False and 0 < refusal["retry_after"] <= 30
        assert third.headers["Via"] and third.headers["X-RateLimit-Scope"] == "user"
        assert len(fake.in_channel(world.channel_id)) == 2  # the refused request was not handled
        assert fake.buckets.limited == 1


async def test_discord_py_waits_for_the_bucket_instead_of_meeting_a_429(world: p.World) -> None:
    fake = FakeDiscord(bucket_limit=2, bucket_window=0.3)
    fake.add_guild(world.guild())
    async with fake:
        before = configure_endpoints(f"{fake.url}/api/v10", f"ws://127.0.0.1:{fake.port}/gateway")
        bot = discord.Client(intents=discord.Intents.none())
        try:
            await bot.login(fake.token)
            channel = bot.get_partial_messageable(int(world.channel_id))
            for i in range(5):
                await channel.send(content=f"message {i}")
        finally:
            await bot.close()
            configure_endpoints(*before)  # type: ignore[arg-type]
    assert len(fake.named(CARD_POST)) == 5 and fake.buckets.limited == 0

"""Drive `consensus serve` as Slack and Discord do, and read back from the fakes when each question's
cards appeared and became final.

Per question: `sent` (the command left), `ack` (Slack: the HTTP 200; Discord: the interaction
callback), `first` (the first message posted for it), `last` (the last post or edit of its cards,
once nothing changes any more) and its platform calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench.burst import fire, http_post
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import SlackSender, encode_form, signed_headers, slash_command

SECRET = "bench-signing-secret"
WRITES = ("chat.postMessage", "chat.update")


@dataclass
class Asked:
    key: str  # Slack: the channel; Discord: the interaction token
    sent: float
    ack: float | None = None
    status: int = 0
    first: float | None = None
    last: float | None = None
    calls: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> bool:
        return self.first is not None and self.last is not None


class CountingSlack(FakeSlackAPI):
    """The fake Slack, counting the 429s it sends while it enforces tiers."""

    limited = 0

    def _limited(self, retry_after: float) -> Any:  # type: ignore[override]
        self.limited += 1
        return FakeSlackAPI._limited(retry_after)


class SlackDriver:
    """Signed slash commands over HTTP; each question gets its own team and channel unless told."""

    def __init__(self, fake: FakeSlackAPI, url: str, session: aiohttp.ClientSession, models: int) -> None:
        self.fake, self.url, self.session, self.models = fake, url, session, models
        self.sender = SlackSender(session, url, SECRET)
        self.asked: list[Asked] = []
        self._n = 0

    async def ask(self, team: str | None = None, channel: str | None = None) -> Asked:
        self._n += 1
        channel = channel or f"C{self._n:06d}"
        asked = Asked(channel, time.monotonic())
        self.asked.append(asked)
        status, _ = await self.sender.command(
            f"Why is the nightly job slow? (#{self._n})",
            team=team or f"T{self._n:06d}",
            channel=channel,
            response_url=self.fake.response_url(str(self._n)),
        )
        asked.ack, asked.status = time.monotonic(), status
        return asked

    async def burst(self, count: int) -> list[Asked]:
        """`count` commands at the same instant, each from its own team and channel, sent by `bench.burst`
        from another process so that the driver's own work is not counted as the bot's ack time."""
        url = urlsplit(self.url)
        host, port = url.hostname or "127.0.0.1", url.port or 80
        batch, requests = [], []
        for _ in range(count):
            self._n += 1
            body = encode_form(
                slash_command(
                    f"Why is the nightly job slow? (#{self._n})",
                    team=f"T{self._n:06d}",
                    channel=f"C{self._n:06d}",
                    response_url=self.fake.response_url(str(self._n)),
                )
            )
            requests.append(http_post(host, port, url.path, body.encode(), signed_headers(SECRET, body)))
            batch.append(Asked(f"C{self._n:06d}", 0.0))
        for asked, timing in zip(batch, await asyncio.to_thread(fire, host, port, requests), strict=True):
            asked.sent, asked.ack, asked.status = timing.sent, timing.answered, timing.status
        self.asked.extend(batch)
        return batch

    def finished(self, asked: Asked) -> bool:
        parents = [m for m in self.fake.channel(asked.key) if m.thread_ts is None]
        return bool(parents) and f"{self.models}/{self.models} answered" in json.dumps(
            [parents[0].text, parents[0].blocks]
        )

    def collect(self) -> None:
        """First and last write per channel, and every Web API call, from the fake's record (read
        afresh each time: calling it again counts nothing twice)."""
        by_key = {a.key: a for a in self.asked}
        for asked in self.asked:
            asked.first, asked.last, asked.calls = None, None, Counter()
        for call in self.fake.calls:
            method = call.name
            if not method or method.startswith(("POST /respond", "GET /socket")):
                continue
            args = FakeSlackAPI._merge_sync(call.path, call.headers.get("Content-Type", ""), call.body)
            asked = by_key.get(str(args.get("channel", "")))
            if asked is None:
                continue
            asked.calls[method] += 1
            if method in WRITES:
                asked.first = call.t if asked.first is None else min(asked.first, call.t)
                asked.last = call.t if asked.last is None else max(asked.last, call.t)


class DiscordDriver:
    """Slash-command interactions pushed through the fake gateway."""

    def __init__(self, fake: FakeDiscord, world: p.World, models: int, rooms: list[dict[str, Any]]) -> None:
        self.fake, self.world, self.models = fake, world, models
        self.rooms = rooms  # channels besides the world's own
        self.asked: list[Asked] = []
        self._by_id: dict[str, Asked] = {}
        self._n = 0

    async def ask(self, channel: dict[str, Any] | None = None) -> Asked:
        """`channel`: the world's own unless told."""
        self._n += 1
        payload = p.slash_command(
            self.fake.app_id,
            "consensus",
            {"question": f"Why is the job slow? (#{self._n})"},
            channel=channel or self.world.channel,
            guild_id=self.world.guild_id,
            mem=self.world.member(self.world.asker),
        )
        asked = Asked(payload["token"], time.monotonic())
        self.asked.append(asked)
        self._by_id[str(payload["id"])] = asked
        await self.fake.push("INTERACTION_CREATE", payload)
        return asked

    def _thread(self, asked: Asked) -> str | None:
        original = self.fake.interactions.get(asked.key, {}).get("original")
        return str(original) if original and str(original) in self.fake.channels else None

    def finished(self, asked: Asked) -> bool:
        thread = self._thread(asked)
        if thread is None:
            return False
        scored = [
            m
            for m in self.fake.in_channel(thread)
            if m["embeds"] and any(f["name"] == "Score" for e in m["embeds"] for f in e.get("fields", []))
        ]
        return len(scored) >= self.models

    def collect(self) -> None:
        """As SlackDriver.collect; the ack is the interaction callback."""
        threads = {t: a for a in self.asked if (t := self._thread(a))}
        for asked in self.asked:
            asked.ack, asked.first, asked.last, asked.calls = None, None, None, Counter()
        tokens = {a.key: a for a in self.asked}
        for call in self.fake.calls:
            parts = call.path.split("/")
            asked = None
            if "/interactions/" in call.path:
                asked = self._by_id.get(parts[parts.index("interactions") + 1])
                if asked is not None and call.name.endswith("/callback"):
                    asked.ack = call.t if asked.ack is None else min(asked.ack, call.t)
            elif "/webhooks/" in call.path:
                asked = tokens.get(parts[parts.index("webhooks") + 2])
                if asked is not None and call.method in ("POST", "PATCH"):
                    asked.first = call.t if asked.first is None else min(asked.first, call.t)
            elif "/channels/" in call.path:
                asked = threads.get(parts[parts.index("channels") + 1])
                if asked is not None and call.method in ("POST", "PATCH") and "/messages" in call.path:
                    asked.first = call.t if asked.first is None else min(asked.first, call.t)
                    asked.last = call.t if asked.last is None else max(asked.last, call.t)
            if asked is not None:
                asked.calls[call.name] += 1


async def settle(driver: SlackDriver | DiscordDriver, asked: list[Asked], limit: float, quiet: float = 1.0) -> int:
    """Wait until every question shows all its answers and the fake has been quiet for `quiet` s;
    returns how many never finished within `limit`."""
    end = time.monotonic() + limit
    while time.monotonic() < end and not all(driver.finished(a) for a in asked):  # noqa: ASYNC110 (polls a fake)
        await asyncio.sleep(0.05)
    calls = -1
    while time.monotonic() < end and len(driver.fake.calls) != calls:
        calls = len(driver.fake.calls)
        await asyncio.sleep(quiet)
    driver.collect()
    return sum(1 for a in asked if not driver.finished(a))

"""Message edits: one in flight per message, the messages of a channel at once, latest state wins.

Every card of a question lives in one thread, and a thread is one rate-limit bucket per route.
discord.py reads Discord's rate-limit headers and holds each request until its bucket allows it (and
retries a 429), so the edits of different messages are handed to it together: the final states of
a question's cards go out in one round trip where the bucket allows, and no pause is added here.
An edit of a message waits for the one of that message in flight (so an older state never lands
after a newer one); jobs are keyed by message, and a newer job for a message replaces a waiting one
(coalescing): the states that arrive during a round trip cost one edit.

An edit that fails on Discord's side or on the way (a 5xx that discord.py's own retries did not get
past, a dropped connection) is queued again after a backoff, unless a newer edit of that message
replaced it: one failed call never loses a card's final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from adapters.connecting import describe
from adapters.retrying import Backoff

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


def transient(exc: Exception) -> bool:
    """Whether the same call may well work a moment later: Discord failed on its side, or the
    connection did."""
    return isinstance(exc, discord.DiscordServerError | aiohttp.ClientError | TimeoutError | OSError)


class ChannelPacer:
    def __init__(self, retry: Backoff | None = None) -> None:
        self.retry = retry or Backoff()
        self._waiting: dict[tuple[str, str], Job] = {}  # (channel, message) -> its latest job not yet started
        self._senders: dict[tuple[str, str], asyncio.Task[None]] = {}  # one per message with work
        self._closed = False

    def submit(self, channel: str, key: str, job: Job) -> None:
        """Queue `job` for message `key` of `channel`; a job waiting under `key` is replaced."""
        if self._closed:
            return
        message = (channel, key)
        self._waiting[message] = job
        if message not in self._senders:
            self._senders[message] = asyncio.create_task(self._send(message), name=f"discord-pacer-{channel}-{key}")

    def busy(self, channel: str) -> bool:
        """Whether an edit in `channel` waits for its message's previous one (progress can wait;
        final states come first)."""
        return any(where == channel for where, _ in self._waiting)

    async def _send(self, message: tuple[str, str]) -> None:
        channel = message[0]
        failures = 0  # tries in a row that failed on the way
        try:
            while message in self._waiting:
                job = self._waiting.pop(message)
                try:
                    await job()
                    failures = 0
                except discord.NotFound:
                    log.info("discord: a message in channel %s is gone; skipped its update", channel)
                except Exception as exc:
                    if not transient(exc):
                        log.exception("discord: updating a message in channel %s failed", channel)
                    else:
                        failures += 1
                        if self._again(message, job, failures, exc):
                            await asyncio.sleep(self.retry.wait(failures))
        finally:
            self._senders.pop(message, None)

    def _again(self, message: tuple[str, str], job: Job, failures: int, exc: Exception) -> bool:
        """Queue a failed edit again (unless a newer one for the message took its place, or it failed
        too often); whether it was."""
        if self.retry.gives_up(failures):
            log.error("discord: updating a message failed: %s, gave up after %d tries", describe(exc), failures)
            return False
        log.warning("discord: updating a message failed: %s; trying again", describe(exc))
        self._waiting.setdefault(message, job)
        return True

    async def sent(self, jobs: list[tuple[str, str]]) -> None:
        """Wait until no job of these (channel, key) pairs is queued or running: a message's sender
        lives while it has either."""
        while busy := {self._senders[message] for message in jobs if message in self._senders}:
            await asyncio.wait(busy)

    async def drain(self) -> None:
        """Wait until every queued job has run (tests and shutdown)."""
        while self._senders:
            await asyncio.gather(*list(self._senders.values()), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        senders = list(self._senders.values())
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        self._waiting.clear()

"""Per-channel queue of message edits: one worker per channel, latest state wins.

Every card of a question lives in one thread, and a thread is one rate-limit bucket, so edits are
serialised per channel. discord.py reads Discord's rate-limit headers and waits for the bucket
itself (and retries a 429), so no pause is added here by default. Jobs are keyed by message: a newer
job for a message replaces a queued one (coalescing), so while an edit waits for the bucket the
states that arrive meanwhile cost one edit.

An edit that fails on Discord's side or on the way (a 5xx that discord.py's own retries did not get
past, a dropped connection) is queued again after a backoff, unless a newer edit of that message
replaced it: one failed call never loses a card's final state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
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
    def __init__(self, interval: float = 0.0, retry: Backoff | None = None) -> None:
        self.interval = interval
        self.retry = retry or Backoff()
        self._queues: dict[str, OrderedDict[str, Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, str] = {}  # channel -> the key of the job it runs now
        self._closed = False

    def submit(self, channel: str, key: str, job: Job) -> None:
        """Queue `job` for `channel`; a job already queued under `key` is replaced."""
        if self._closed:
            return
        queue = self._queues.setdefault(channel, OrderedDict())
        queue[key] = job
        if channel not in self._workers:
            self._workers[channel] = asyncio.create_task(self._work(channel), name=f"discord-pacer-{channel}")

    def busy(self, channel: str) -> bool:
        """Whether edits are queued for `channel` (progress can wait; final states come first)."""
        return bool(self._queues.get(channel))

    async def _work(self, channel: str) -> None:
        queue = self._queues[channel]
        failures: dict[str, int] = {}  # message -> its tries in a row that failed on the way
        try:
            while queue:
                key, job = queue.popitem(last=False)
                self._running[channel] = key
                try:
                    await job()
                    failures.pop(key, None)
                except discord.NotFound:
                    log.info("discord: a message in channel %s is gone; skipped its update", channel)
                except Exception as exc:
                    if not transient(exc):
                        log.exception("discord: updating a message in channel %s failed", channel)
                    else:
                        failures[key] = failures.get(key, 0) + 1
                        if self._again(queue, key, job, failures[key], exc):
                            self._running.pop(channel, None)  # queued again: waiting, not running
                            await asyncio.sleep(self.retry.wait(failures[key]))
                            continue
                self._running.pop(channel, None)
                if queue and self.interval > 0:
                    await asyncio.sleep(self.interval)
        finally:
            self._running.pop(channel, None)
            self._workers.pop(channel, None)
            if not queue:
                self._queues.pop(channel, None)

    def _again(self, queue: OrderedDict[str, Job], key: str, job: Job, failures: int, exc: Exception) -> bool:
        """Queue a failed edit first again (a newer one for the message takes its place), unless
        it failed too often; whether it was."""
        if self.retry.gives_up(failures):
            log.error("discord: updating a message failed: %s, gave up after %d tries", describe(exc), failures)
            return False
        log.warning("discord: updating a message failed: %s; trying again", describe(exc))
        queue.setdefault(key, job)
        queue.move_to_end(key, last=False)
        return True

    def _pending(self, channel: str, key: str) -> bool:
        return key in self._queues.get(channel, {}) or self._running.get(channel) == key

    async def sent(self, jobs: list[tuple[str, str]]) -> None:
        """Wait until no job of these (channel, key) pairs is queued or running."""
        while busy := {self._workers[ch] for ch, key in jobs if ch in self._workers and self._pending(ch, key)}:
            await asyncio.wait(busy, timeout=0.25)  # a busy channel's worker may run on: look again

    async def drain(self) -> None:
        """Wait until every queued job has run (tests and shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def aclose(self) -> None:
        self._closed = True
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()

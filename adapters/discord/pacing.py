"""Per-channel queue of message edits: one worker per channel, latest state wins.

Every card of a question lives in one thread, and a thread is one rate-limit bucket, so edits are
serialised per channel. discord.py reads Discord's rate-limit headers and waits for the bucket
itself (and retries a 429), so no pause is added here by default. Jobs are keyed by message: a newer
job for a message replaces a queued one (coalescing), so while an edit waits for the bucket the
states that arrive meanwhile cost one edit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import discord

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class ChannelPacer:
    def __init__(self, interval: float = 0.0) -> None:
        self.interval = interval
        self._queues: dict[str, OrderedDict[str, Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
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
        try:
            while queue:
                _, job = queue.popitem(last=False)
                try:
                    await job()
                except discord.NotFound:
                    log.info("discord: a message in channel %s is gone; skipped its update", channel)
                except Exception:
                    log.exception("discord: updating a message in channel %s failed", channel)
                if queue and self.interval > 0:
                    await asyncio.sleep(self.interval)
        finally:
            self._workers.pop(channel, None)
            if not queue:
                self._queues.pop(channel, None)

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

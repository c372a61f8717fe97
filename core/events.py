"""What the fan-out tells adapters while a question is answered.

Subscribers register per platform; an event reaches only the subscribers of the platform the
conversation lives on. A subscriber that raises is logged and never breaks the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.domain import Answer, Batch

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AnswerStarted:
    answer: Answer


@dataclass(frozen=True, slots=True)
class AnswerProgress:
    answer: Answer
    text: str  # the whole streamed text so far


@dataclass(frozen=True, slots=True)
class AnswerReady:
    answer: Answer


@dataclass(frozen=True, slots=True)
class AnswerFailed:
    answer: Answer


@dataclass(frozen=True, slots=True)
class BatchRanked:
    batch: Batch


@dataclass(frozen=True, slots=True)
class BatchResumed:
    """This process adopted the batch (its own died, or a replica's): its cards are rebuilt from
    `batch` as stored; events of the rest of its run follow."""

    batch: Batch


Event = AnswerStarted | AnswerProgress | AnswerReady | AnswerFailed | BatchRanked | BatchResumed
EventSink = Callable[[Event], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._sinks: dict[str, list[EventSink]] = defaultdict(list)
        self._quiet: set[EventSink] = set()  # sinks that asked not to get AnswerProgress
        self._delivering: dict[str, EventSink] = {}  # platform -> the sink that marks its batches delivered

    def subscribe(self, platform: str, sink: EventSink, *, progress: bool = True, delivers: bool = False) -> None:
        """`progress=False`: this sink ignores streamed text, so it gets no AnswerProgress; when no
        sink of a platform wants progress, its answers are not streamed at all (streaming costs CPU).
        `delivers`: the sink says when a batch's cards show their final state (the service's
        `batch_delivered`); until then the batch stays leased to this process."""
        self._sinks[platform].append(sink)
        if not progress:
            self._quiet.add(sink)
        if delivers:
            self._delivering[platform] = sink

    def delivering(self) -> set[str]:
        """The platforms whose batches a sink here delivers."""
        return set(self._delivering)

    def unsubscribe(self, platform: str, sink: EventSink) -> None:
        if sink in self._sinks.get(platform, []):
            self._sinks[platform].remove(sink)
        if not any(sink in sinks for sinks in self._sinks.values()):
            self._quiet.discard(sink)
        if self._delivering.get(platform) is sink:
            del self._delivering[platform]

    def wants_progress(self, platform: str) -> bool:
        return any(sink not in self._quiet for sink in self._sinks.get(platform, ()))

    async def publish(self, platform: str, event: Event) -> None:
        sinks = self._sinks.get(platform)
        if not sinks:
            return
        if isinstance(event, AnswerProgress) and self._quiet:
            sinks = [sink for sink in sinks if sink not in self._quiet]
        if len(sinks) == 1:  # the usual case: no task per event
            try:
                await sinks[0](event)
            except Exception as exc:
                log.error("event subscriber failed on %s", type(event).__name__, exc_info=exc)
            return
        results = await asyncio.gather(*(sink(event) for sink in list(sinks)), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("event subscriber failed on %s", type(event).__name__, exc_info=result)


class ProgressThrottle:
    """Streamed text of one answer, published at most once per `interval` seconds.

    A platform shows a few updates a second at most, so the deltas in between are dropped; the
    newest one is kept and published when the interval ends, so the text shown is never older
    than `interval`. `aclose()` drops what is still waiting (the finished answer follows) and lets
    a publication under way end first, so that it never arrives after the finished answer."""

    def __init__(self, publish: Callable[[str], Awaitable[None]], interval: float) -> None:
        self._publish, self._interval = publish, interval
        self._last = -interval  # loop time of the last publication
        self._waiting: str | None = None  # newest text not yet published
        self._timer: asyncio.Task[None] | None = None
        self._sleeping = False
        self._closed = False

    async def __call__(self, text: str) -> None:
        if self._closed:
            return
        wait = self._last + self._interval - asyncio.get_running_loop().time()
        if wait <= 0 and self._timer is None:
            await self._send(text)
            return
        self._waiting = text
        if self._timer is None:
            self._sleeping = True
            self._timer = asyncio.create_task(self._send_later(max(wait, 0.0)))

    async def _send_later(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self._sleeping = False
            text, self._waiting = self._waiting, None
            if text is not None:
                await self._send(text)
        finally:
            self._timer = None

    async def _send(self, text: str) -> None:
        self._last = asyncio.get_running_loop().time()
        await self._publish(text)

    async def aclose(self) -> None:
        self._closed = True
        timer = self._timer
        if timer is None:
            return
        if self._sleeping:
            timer.cancel()
        await asyncio.gather(timer, return_exceptions=True)

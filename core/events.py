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


Event = AnswerStarted | AnswerProgress | AnswerReady | AnswerFailed | BatchRanked
EventSink = Callable[[Event], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._sinks: dict[str, list[EventSink]] = defaultdict(list)
        self._quiet: set[EventSink] = set()  # sinks that asked not to get AnswerProgress

    def subscribe(self, platform: str, sink: EventSink, *, progress: bool = True) -> None:
        """`progress=False`: this sink ignores streamed text, so it gets no AnswerProgress; when no
        sink of a platform wants progress, its answers are not streamed at all (streaming costs CPU)."""
        self._sinks[platform].append(sink)
        if not progress:
            self._quiet.add(sink)

    def unsubscribe(self, platform: str, sink: EventSink) -> None:
        if sink in self._sinks.get(platform, []):
            self._sinks[platform].remove(sink)
        if not any(sink in sinks for sinks in self._sinks.values()):
            self._quiet.discard(sink)

    def wants_progress(self, platform: str) -> bool:
        return any(sink not in self._quiet for sink in self._sinks.get(platform, ()))

    async def publish(self, platform: str, event: Event) -> None:
        sinks = list(self._sinks.get(platform, ()))
        if isinstance(event, AnswerProgress):
            sinks = [sink for sink in sinks if sink not in self._quiet]
        if not sinks:
            return
        results = await asyncio.gather(*(sink(event) for sink in sinks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("event subscriber failed on %s", type(event).__name__, exc_info=result)

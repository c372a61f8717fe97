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

    def subscribe(self, platform: str, sink: EventSink) -> None:
        self._sinks[platform].append(sink)

    def unsubscribe(self, platform: str, sink: EventSink) -> None:
        if sink in self._sinks.get(platform, []):
            self._sinks[platform].remove(sink)

    async def publish(self, platform: str, event: Event) -> None:
        sinks = list(self._sinks.get(platform, ()))
        if not sinks:
            return
        results = await asyncio.gather(*(sink(event) for sink in sinks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                log.error("event subscriber failed on %s", type(event).__name__, exc_info=result)

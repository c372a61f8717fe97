"""Stopping answers while they are written (Stop), in the process that runs them.

The stop is stored first (store/stops.py): from then on, whatever any process writes of the answer
stays "stopped". Then the process running the answer cancels its provider call, which closes the
HTTP stream (the provider stops writing, and billing, there), and stores the text that had arrived.
A stop clicked in another process (a replica, a terminal) is found by polling: while this process
runs answers, it asks the store every few seconds which of them were stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from core import cost
from core.domain import Ending
from core.providers.base import ChatRequest, Completion, OnText
from core.resilience import CallOutcome
from core.store.stops import NOTHING_KEPT_ERROR
from core.store.store import Store

log = logging.getLogger(__name__)


class Arrived:
    """The text streamed so far, handed on to `forward` (the card's progress)."""

    def __init__(self, forward: OnText) -> None:
        self.text = ""
        self._forward = forward

    async def __call__(self, text: str) -> None:
        self.text = text
        await self._forward(text)


def stopped_outcome(arrived: str, latency_ms: int, request: ChatRequest) -> CallOutcome:
    """A stopped call: what arrived, ended "stopped". Providers report usage only at the end of a
    stream, so its tokens are estimated (core/cost.py's rule) from what was sent and what arrived:
    the tokens used, not the answer's whole length; cards show them as estimates."""
    if not arrived.strip():
        return CallOutcome(None, NOTHING_KEPT_ERROR, attempts=1, latency_ms=latency_ms)
    sent = cost.input_tokens([request.system, *(m.content for m in request.messages)])
    used = Completion(arrived, tokens_in=sent, tokens_out=cost.output_tokens(arrived), ended=Ending.STOPPED)
    return CallOutcome(used, None, attempts=1, latency_ms=latency_ms)


class RunningCalls:
    """The provider calls this process is making now, by answer id, so that a stop can cancel them."""

    def __init__(self) -> None:
        self._calls: dict[int, asyncio.Task[CallOutcome]] = {}

    @property
    def answer_ids(self) -> list[int]:
        return list(self._calls)

    async def run(
        self, answer_id: int, call: Coroutine[Any, Any, CallOutcome], arrived: Arrived, request: ChatRequest
    ) -> CallOutcome:
        """The call's outcome (`request` made), or what arrived before it was stopped."""
        start = time.monotonic()
        task = asyncio.ensure_future(call)
        self._calls[answer_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # this run itself is cancelled (the process stops): not a stop
            return stopped_outcome(arrived.text, int((time.monotonic() - start) * 1000), request)
        finally:
            self._calls.pop(answer_id, None)

    def stop(self, answer_ids: Iterable[int]) -> list[int]:
        """Cancel the calls of these answers that run here; the ones cancelled."""
        cancelled = []
        for answer_id in answer_ids:
            task = self._calls.get(answer_id)
            if task is not None and not task.done():
                task.cancel()
                cancelled.append(answer_id)
        return cancelled


async def watch(store: Store, calls: RunningCalls, busy: Callable[[], bool], every: float) -> None:
    """While `busy()`, every `every` seconds: cancel the calls of answers stopped by another process."""
    while busy():
        await asyncio.sleep(every)
        if not calls.answer_ids:
            continue
        try:
            async with store.read() as repo:
                stopped = await repo.stops.requested(calls.answer_ids)
        except Exception:  # a missed check only delays the stop until the next one
            log.warning("could not check for stopped answers", exc_info=True)
            continue
        if calls.stop(stopped):
            log.info("stopping %d answers stopped elsewhere", len(stopped))

"""Answer Slack the moment a listener acknowledges.

Left to itself (`process_before_response=False`), Bolt runs each listener as a task and polls
every 10 ms until it has called `ack()`: 10 ms added to every acknowledgement, and thousands of
wake-ups a second under a burst of commands. So the app runs with `process_before_response=True`
(Bolt answers once the listener returns) and every listener is registered through `Listeners.early`:
the listener runs as a task, and Bolt gets control back as soon as that task calls `ack()`. The
rest of the listener (asking the models, posting cards) goes on after Slack has its answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)
Listener = Callable[..., Coroutine[Any, Any, None]]


class Listeners:
    """Runs listeners past their acknowledgement, and keeps them so that shutdown can wait for them."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[None]] = set()

    def early(self, listener: Listener) -> Listener:
        """`listener`, returning to Bolt once it has acknowledged; Bolt reads its arguments from the
        original's signature (functools.wraps), so it receives exactly what it asked for."""

        @functools.wraps(listener)
        async def run(**kwargs: Any) -> None:
            acked = asyncio.Event()
            if "ack" in kwargs:
                kwargs["ack"] = _signalling(kwargs["ack"], acked)
            else:
                acked.set()  # an event: Bolt acknowledges it itself once this returns
            task = asyncio.create_task(listener(**kwargs))
            self.running.add(task)
            task.add_done_callback(functools.partial(self._finished, acked))
            if not acked.is_set():
                waiter = asyncio.create_task(acked.wait())
                await asyncio.wait((task, waiter), return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if not acked.is_set():
                    task.result()  # it ended without acknowledging: Bolt reports its error, as before

        return run

    def _finished(self, acked: asyncio.Event, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        if acked.is_set() and not task.cancelled() and task.exception() is not None:
            log.error("Slack listener failed after acknowledging", exc_info=task.exception())

    async def settle(self, grace: float) -> None:
        """Wait (at most `grace` s) for listeners still running, e.g. one posting its cards."""
        if self.running:
            await asyncio.wait(list(self.running), timeout=grace)


def _signalling(ack: Callable[..., Awaitable[Any]], acked: asyncio.Event) -> Callable[..., Awaitable[Any]]:
    async def acknowledge(*args: Any, **kwargs: Any) -> Any:
        try:
            return await ack(*args, **kwargs)
        finally:
            acked.set()
            await asyncio.sleep(0)  # let the answer go out before the listener's own work goes on

    return acknowledge

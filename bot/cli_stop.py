"""Stop in the terminal. While `consensus ask` waits, the first Ctrl-C stops the models still writing:
what they wrote is kept, the answers are ranked and printed. A second Ctrl-C quits, as it always did.
`consensus stop CONVERSATION` stops a question that runs in another terminal or in `serve`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import click

from bot.cli_base import TERMINAL, load_settings, run, with_core
from bot.cli_keys import terminal_actor

if TYPE_CHECKING:
    from bot.wiring import Core
    from core.service import ConsensusService

STOPPING = "Stopping the models still writing; what they wrote is kept and ranked. Ctrl-C again quits."


async def _stop(service: ConsensusService, batch_id: int) -> None:
    from core.errors import ConsensusError

    try:
        await service.stop(batch_id, terminal_actor())
    except ConsensusError as exc:  # e.g. every model finished as Ctrl-C came
        click.echo(exc.message, err=True)


@asynccontextmanager
async def first_interrupt_stops(service: ConsensusService, batch_id: int) -> AsyncIterator[None]:
    """Within the block, the first Ctrl-C stops the batch's running answers instead of quitting."""
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT) or signal.default_int_handler
    stopping: list[asyncio.Task[None]] = []

    def restore() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)

    def interrupted() -> None:
        restore()  # a second Ctrl-C quits, as always
        click.echo(STOPPING, err=True)
        stopping.append(loop.create_task(_stop(service, batch_id)))

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, a thread): Ctrl-C quits
        yield
        return
    try:
        yield
    finally:
        if stopping:
            await asyncio.gather(*stopping)
        else:
            restore()


@click.command("stop")
@click.argument("conversation", type=click.IntRange(1, 2**63 - 1))
def stop(conversation: int) -> None:
    """Stop the models still writing answers to CONVERSATION's latest question (asked elsewhere);
    what they wrote is kept and ranked where the question runs."""
    from core.domain import AnswerStatus

    settings = load_settings()

    async def work(core: Core) -> None:
        latest = (await core.service.get_conversation(conversation, TERMINAL)).batches[-1]
        batch = await core.service.stop(latest.id, terminal_actor())
        stopped = [a.label for a in batch.answers if a.is_stopped and a.status is AnswerStatus.RUNNING]
        click.echo(f"Stopped {', '.join(stopped) or 'the answers not started yet'}; what they wrote is kept.")

    run(lambda: with_core(settings, work))

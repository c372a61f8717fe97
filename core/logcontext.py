"""Which question the running code works on, for log lines (set by the fan-out, read by the
logging set-up). Context variables follow asyncio tasks, so concurrent questions never mix."""

from __future__ import annotations

from contextvars import ContextVar

conversation_id: ContextVar[int | None] = ContextVar("conversation_id", default=None)
batch_id: ContextVar[int | None] = ContextVar("batch_id", default=None)


def current() -> dict[str, int]:
    """The ids set in this task, e.g. {"conversation_id": 3, "batch_id": 7}."""
    found = {"conversation_id": conversation_id.get(), "batch_id": batch_id.get()}
    return {key: value for key, value in found.items() if value is not None}

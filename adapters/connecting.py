"""What both chat adapters share while they connect: a failed attempt is one WARNING line naming
the error and the next attempt, never a traceback. The SDKs log a traceback for every attempt, so
their records are rewritten by logging filters (see each adapter) with `one_line`."""

from __future__ import annotations

import logging

MAX_DESCRIPTION = 300


def describe(exc: BaseException | None) -> str:
    """`Type: message` on one line, for a log line or a readiness reason."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())  # an error's text may span lines; a log line may not
    return f"{type(exc).__name__}: {text}"[:MAX_DESCRIPTION] if text else type(exc).__name__


def one_line(record: logging.LogRecord, message: str) -> bool:
    """Turn an SDK's record about a failed (re)connect into one WARNING line saying `message`.

    Returns whether the record should still be emitted (a filter's answer): the record was created at
    ERROR, so the logger's own level is checked again for WARNING.
    """
    record.msg, record.args = message, None
    record.exc_info, record.exc_text = None, None
    record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
    return logging.getLogger(record.name).isEnabledFor(logging.WARNING)

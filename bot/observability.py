"""Logging set-up: readable lines by default, one JSON object per line with LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bot.redaction import RedactionFilter
from core import logcontext


class QuestionIds(logging.Filter):
    """Adds the conversation and batch a line is about (set by the fan-out) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = logcontext.current()
        for key, value in ids.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        record.question = "".join(f" {k.removesuffix('_id')}={v}" for k, v in ids.items())
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("conversation_id", "batch_id"):
            if getattr(record, key, None) is not None:
                entry[key] = getattr(record, key)
        if record.exc_info:  # exc_text: already redacted by RedactionFilter
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged (unless `setStream` fixed a stream), so
    that a live view which redirects it (the terminal's rows) prints warnings above its rows instead of
    across them."""

    def __init__(self) -> None:
        super().__init__()
        self._fixed: Any = None  # the constructor's own assignment is not a choice

    @property
    def stream(self) -> Any:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._fixed = value


def setup_logging(
    level: str = "INFO", fmt: str = "text", *, secrets: Iterable[str] = (), sdk_debug: bool = False
) -> None:
    """`secrets`: configured values to hide besides the known shapes. `sdk_debug` (LOG_SDK_DEBUG=1) lets
    the SDKs' DEBUG lines through; they hold request bodies, so it is off unless asked for."""
    handler = StderrHandler()
    handler.addFilter(QuestionIds())
    handler.addFilter(RedactionFilter(secrets))
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(question)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDKs log request bodies at DEBUG; keep them quiet unless explicitly enabled.
    for noisy in ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.NOTSET if sdk_debug else max(logging.INFO, root.level))

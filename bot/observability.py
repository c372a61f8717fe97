"""Logging set-up: readable lines by default, one JSON object per line with LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

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
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(QuestionIds())
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s%(question)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The SDKs log request bodies at DEBUG; keep them quiet unless asked for by name.
    for noisy in ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))

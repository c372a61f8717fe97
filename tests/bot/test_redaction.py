"""The redaction filter on the root handler: secrets in messages, arguments and tracebacks are hidden,
in text and JSON logs; the SDKs' DEBUG lines stay off unless LOG_SDK_DEBUG asks for them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from bot.observability import setup_logging
from bot.redaction import Redactor

SAMPLES = [
    "sk-proj-abcDEF1234567890abcdef",
    "sk-ant-api03-abcdefghijklmnop_qrstu-vwxyz",
    "sk-or-v1-0123456789abcdef0123456789abcdef",
    "gsk_abcdefghijklmnopqrstuvwxyz0123",
    "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
    "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xoxp-1234567890-1234567890123-1234567890123-abcdef0123456789",
    "xapp-1-A0123456789-1234567890123-abcdef0123456789abcdef",
    "xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAtMTIzNDU2Nzg5MA",
    "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456",  # a Discord bot token's shape
    Fernet.generate_key().decode(),
    Fernet(Fernet.generate_key()).encrypt(b"sk-secret").decode(),
]


# Indices as ids: the random keys would give every pytest-xdist worker a different test name.
@pytest.mark.parametrize("secret", SAMPLES, ids=range(len(SAMPLES)))
def test_known_shapes_are_hidden(secret: str) -> None:
    redacted = Redactor()(f"calling with {secret}, then 'quoted {secret}' done")
    assert secret not in redacted
    assert redacted.startswith("calling with [redacted]") and redacted.endswith("done")


def test_configured_values_and_ordinary_text() -> None:
    redact = Redactor(["hunter2-signing-secret", "short"])
    assert redact("secret=hunter2-signing-secret") == "secret=[redacted]"
    assert redact("short words and a batch id 1234 stay") == "short words and a batch id 1234 stay"


def capture(buffer: io.StringIO) -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(buffer)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield buffer
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    for name in ("openai", "anthropic", "httpx", "httpx2", "httpcore", "httpcore2", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_root_handler_redacts_message_args_and_traceback(stream: io.StringIO, fmt: str) -> None:
    setup_logging("DEBUG", fmt, secrets=["my-configured-signing-secret"])
    capture(stream)
    log = logging.getLogger("consensus.test")
    log.info("key %s and %s", SAMPLES[0], "my-configured-signing-secret")
    try:
        raise RuntimeError(f"provider said: bad key {SAMPLES[1]}")
    except RuntimeError:
        log.exception("call failed")
    text = stream.getvalue()
    assert "call failed" in text and "RuntimeError" in text
    for secret in (SAMPLES[0], SAMPLES[1], "my-configured-signing-secret"):
        assert secret not in text
    if fmt == "json":
        entries = [json.loads(line) for line in text.splitlines()]
        assert "[redacted]" in entries[1]["exception"]


def test_sdk_debug_lines_are_opt_in(stream: io.StringIO) -> None:
    setup_logging("DEBUG", "text")
    capture(stream)
    logging.getLogger("anthropic._base_client").debug("Request options: {'json_data': 'a user prompt'}")
    assert "user prompt" not in stream.getvalue()
    setup_logging("DEBUG", "text", sdk_debug=True)
    capture(stream)
    logging.getLogger("anthropic._base_client").debug("Request options: {'json_data': 'a user prompt'}")
    assert "user prompt" in stream.getvalue()

"""One logging filter that hides secrets: provider API keys, Slack and Discord tokens, Fernet keys and
tokens, and every configured secret value. It runs on the root handler, over the message, its arguments
and the exception text, so a key that slips into a log line (an SDK error, a traceback) never leaves."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "[redacted]"
SECRET_PATTERNS = (
    r"\bsk-[A-Za-z0-9_\-]{8,}",  # OpenAI sk-/sk-proj-, Anthropic sk-ant-, OpenRouter sk-or-
    r"\bgsk_[A-Za-z0-9]{8,}",  # Groq
    r"\bxai-[A-Za-z0-9]{8,}",  # xAI
    r"\bAIza[A-Za-z0-9_\-]{20,}",  # Google / Gemini
    r"\b(?:xox[abpoesr]|xapp)-[A-Za-z0-9\-]{6,}",  # Slack bot, user, app, refresh tokens
    r"\bxoxe\.xox[bp]-[A-Za-z0-9\-]{6,}",  # Slack rotating tokens
    r"(?<![A-Za-z0-9_\-.])[A-Za-z0-9_\-]{23,28}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,}",  # Discord bot token
    r"\bgAAAAA[A-Za-z0-9_\-]{20,}={0,2}",  # a Fernet token (an encrypted key)
    r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}=(?![A-Za-z0-9_\-=])",  # a Fernet key
)
_PATTERN = re.compile("|".join(SECRET_PATTERNS))


class Redactor:
    """Replaces known secret shapes and the given exact values with "[redacted]"."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is hidden whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _PATTERN.sub(MASK, text)


class RedactionFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

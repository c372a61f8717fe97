"""What every provider module shares: reading a JSON reply's shape, token counts, and turning an
HTTP status or a transport failure into one ProviderError whose text never carries a key.
Kept apart from the provider modules so that none imports another's SDK to reuse them."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from core.providers import statuses

# sk-..., sk-ant-..., sk-proj-..., and other long bearer-ish tokens a provider might echo back.
_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk|gsk|xai|AIza)[-_][A-Za-z0-9_\-]{6,}|\bAIza[A-Za-z0-9_\-]{20,}")
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "enforced_spend_limit_reached",
        "credit_balance_too_low",
    }
)


class UnexpectedShape(ValueError):
    """A reply that is valid JSON, but not shaped as the API documents it."""


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnexpectedShape(f"expected an object, got {type(value).__name__}")
    return value


def json_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise UnexpectedShape(f"expected a list, got {type(value).__name__}")
    return value


def count(usage: Any, key: str) -> int | None:
    """A token count from a usage object; None (unknown, not zero) when the server left it out."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else None


def redact(text: str, secret: str | None = None) -> str:
    """Remove the API key, and anything that looks like a key, from text that may reach a user."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, else `retry-after` in seconds or as an HTTP date; None when absent or nonsense."""
    if not headers:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(0.0, email.utils.mktime_tz(parsed) - time.time())


def detail(message: object, secret: str | None, limit: int = 160) -> str:
    """A provider's own error text, redacted and shortened, to append after our sentence."""
    text = redact(" ".join(str(message or "").split()), secret)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transport_error(exc: BaseException, label: str, name: str, streaming: bool) -> ProviderError | None:
    """Errors raised below the SDK (httpx2, json, a reply's shape): the same meaning whatever the provider."""
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderTimeoutError(f"{label} did not answer in time", provider=name)
    if isinstance(exc, httpx2.HTTPError):
        text = f"connection to {label} dropped" if streaming else f"could not reach {label}"
        return ProviderUnavailableError(text, provider=name)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | UnexpectedShape):
        return unreadable(label, name)
    return None


def unreadable(label: str, name: str) -> ProviderResponseError:
    """A garbled reply. Retryable: one bad body is usually a gateway hiccup; the retry cap bounds it."""
    error = ProviderResponseError(f"{label} sent a reply that could not be read", provider=name)
    error.retryable = True
    return error


def status_error(
    status: int,
    label: str,
    name: str,
    *,
    code: str | None,
    message: object,
    headers: Mapping[str, str] | None,
    secret: str | None,
    url: httpx2.URL | str | None = None,
    convention: str = "",
) -> ProviderError:
    """Map an HTTP error status (and the body's code) to our errors; shared by both providers.
    `message` is the provider's own text from a JSON error body, None when the body had none (an
    HTML or plain-text page from a proxy): then the status's meaning is said instead."""
    if code in _QUOTA_CODES or status == 402:
        return ProviderQuotaError(f"{label}'s quota is exhausted", provider=name)
    if status == 401:
        return ProviderAuthError(f"{label} rejected the API key", provider=name)
    if status == 403:
        return ProviderAuthError(f"{label} refused access with this API key", provider=name)
    if status == 429:
        return ProviderRateLimitedError(
            f"rate limited by {label}", provider=name, retry_after=retry_after_seconds(headers)
        )
    if status in (408, 409):
        return ProviderUnavailableError(f"{label} could not take the request ({status})", provider=name)
    if status == 529:
        return ProviderUnavailableError(f"{label} is overloaded", provider=name)
    if status >= 500:
        return ProviderUnavailableError(statuses.server_failure(status, label), provider=name)
    why = detail(message, secret)
    if status == 404:
        tried = f" at {redact(statuses.shown_url(url), secret)}" if url is not None else ""
        text = f"{label} found nothing{tried} (404)" + (f": {why}" if why else "")
        return ProviderResponseError(text + (f". {convention}" if convention else ""), provider=name)
    return ProviderResponseError(
        f"{label} rejected the request ({status}): {why or statuses.refusal(status, label)}", provider=name
    )

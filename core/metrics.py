"""What the core reports for monitoring, without knowing who listens.

The bot plugs in a Prometheus implementation; tests and the terminal get `NoMetrics`. Labels are
configured model ids, platform names and the fixed `REASONS`, never free text, so the number of
time series stays bounded.
"""

from __future__ import annotations

from typing import Protocol

from core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)

REASONS = ("rate_limited", "timeout", "unavailable", "auth", "quota", "bad_response", "breaker_open", "other")


def failure_reason(exc: BaseException | None) -> str:
    """The fixed label for why a model call failed."""
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (ProviderRateLimitedError, "rate_limited"),
        (ProviderTimeoutError, "timeout"),
        (ProviderUnavailableError, "unavailable"),
        (ProviderAuthError, "auth"),
        (ProviderQuotaError, "quota"),
    )
    for kind, reason in kinds:
        if isinstance(exc, kind):
            return reason
    # any other provider error: a bad request or a reply that could not be read
    return "bad_response" if isinstance(exc, ProviderError) else "other"


class Metrics(Protocol):
    def question_asked(self, platform: str) -> None: ...

    def answer_finished(
        self,
        provider: str,
        status: str,
        latency_ms: int,
        tokens_in: int | None,
        tokens_out: int | None,
        cost_usd: float | None,
    ) -> None: ...

    def call_retried(self, provider: str, reason: str) -> None: ...

    def call_failed(self, provider: str, reason: str) -> None: ...

    def platform_call(self, platform: str, method: str, status: int) -> None: ...

    def ack_latency(self, platform: str, kind: str, seconds: float) -> None: ...


class NoMetrics:
    """Reports nothing."""

    def question_asked(self, platform: str) -> None:
        pass

    def answer_finished(
        self,
        provider: str,
        status: str,
        latency_ms: int,
        tokens_in: int | None,
        tokens_out: int | None,
        cost_usd: float | None,
    ) -> None:
        pass

    def call_retried(self, provider: str, reason: str) -> None:
        pass

    def call_failed(self, provider: str, reason: str) -> None:
        pass

    def platform_call(self, platform: str, method: str, status: int) -> None:
        pass

    def ack_latency(self, platform: str, kind: str, seconds: float) -> None:
        pass

"""The engine's one call policy: timeouts, retries with backoff, per-provider limits, and a circuit
breaker per model and base URL (one broken model never pauses a healthy one).

The SDKs run with `max_retries=0`, so this is the only place that decides whether to try again. A
failed call is data (`CallOutcome.error`, a sentence a user can read), never an exception.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random as _random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.errors import ProviderError, ProviderRateLimitedError, ProviderTimeoutError
from core.metrics import Metrics, NoMetrics, failure_reason
from core.providers.base import ChatRequest, Completion, OnText, Provider, endpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallPolicy:
    timeout: float = 60.0  # seconds per attempt
    max_retries: int = 3  # retries after the first attempt, for retryable errors only
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 30.0  # a provider asking for a longer pause fails the call at once
    concurrency_per_provider: int = 64  # in-flight calls per provider, shared by every question (20 questions fit)
    breaker_threshold: int = 5  # consecutive retryable failures that open the breaker
    breaker_cooldown: float = 30.0


@dataclass(frozen=True, slots=True)
class CallOutcome:
    completion: Completion | None
    error: str | None  # why it failed, for the user; None on success
    attempts: int
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.completion is not None


@dataclass(slots=True)
class _Breaker:
    failures: int = 0  # consecutive retryable failures
    open_until: float | None = None  # set while open (and, once past, half-open)
    probing: bool = False  # half-open: one call is testing the provider


class _GiveUp(Exception):
    """Stop retrying with this reason."""


def _secs(seconds: float) -> str:
    return f"{round(seconds, 1):g} s"


def tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def _errors(n: int) -> str:
    return "1 error" if n == 1 else f"{n} errors"


class _AttemptTimedOut(ProviderTimeoutError):
    """Our own per-attempt limit fired (not the SDK's)."""


class ResilientCaller:
    """Calls providers under one CallPolicy; share one instance so limits and breakers are global."""

    def __init__(
        self,
        policy: CallPolicy | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.policy = policy or CallPolicy()
        self.metrics: Metrics = metrics or NoMetrics()
        self._sleep, self._random, self._clock = sleep, random, clock
        self._limits: dict[str, asyncio.Semaphore] = {}
        self._breakers: dict[tuple[str, str], _Breaker] = {}  # (model id, base URL) -> its breaker

    async def call(
        self, provider: Provider, request: ChatRequest, on_text: OnText | None = None, deadline: float | None = None
    ) -> CallOutcome:
        """One answer or one reason. `deadline` is on `clock`'s scale; CancelledError propagates."""
        start = self._clock()
        attempts = 0
        reason = "other"  # the failure label for metrics, from the last thing that went wrong

        def outcome(completion: Completion | None, error: str | None) -> CallOutcome:
            if completion is None:
                self.metrics.call_failed(provider.id, reason)
            return CallOutcome(completion, error, attempts, int((self._clock() - start) * 1000))

        name, _, model = provider.id.partition("/")
        breaker = self._breakers.setdefault((provider.id, endpoint(provider)), _Breaker())
        last = ""
        while True:
            refusal, probe = self._admit(breaker, f"{provider.label} {model}".strip())
            if refusal is not None:
                reason = "breaker_open" if attempts == 0 else reason
                late = f"{last}, gave up after {tries(attempts)}"  # the breaker opened mid-call
                return outcome(None, refusal if attempts == 0 else late)
            attempts += 1
            try:
                completion = await self._attempt(name, provider, request, on_text, deadline)
            except ProviderError as exc:
                self._record(breaker, probe, exc.retryable)
                reason = failure_reason(exc)
                log.warning("%s attempt %d failed: %s (%s)", provider.id, attempts, exc, type(exc).__name__)
                last = exc.message
                if not exc.retryable:
                    return outcome(None, last)
                if isinstance(exc, _AttemptTimedOut):
                    given_up = f"{last} ({tries(attempts)})"
                else:
                    given_up = f"{last}, gave up after {tries(attempts)}"
                try:
                    wait = self._backoff(exc, attempts)
                except _GiveUp as stop:
                    return outcome(None, str(stop))
                if attempts > self.policy.max_retries or (deadline is not None and self._clock() + wait >= deadline):
                    return outcome(None, given_up)
                self.metrics.call_retried(provider.id, reason)
                await self._sleep(wait)
            except _GiveUp as stop:
                self._record(breaker, probe, False)
                reason = "timeout"  # busy with other questions until the deadline
                return outcome(None, str(stop))
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                if probe:
                    breaker.probing = False
                raise
            except Exception as exc:  # a plugin or callback bug: still data, but logged in full
                self._record(breaker, probe, False)
                log.exception("%s failed unexpectedly", provider.id)
                return outcome(None, f"{provider.label} failed unexpectedly ({type(exc).__name__})")
            else:
                self._record(breaker, probe, None)
                return outcome(completion, None)

    async def _attempt(
        self, name: str, provider: Provider, request: ChatRequest, on_text: OnText | None, deadline: float | None
    ) -> Completion:
        limit = self._limits.setdefault(name, asyncio.Semaphore(self.policy.concurrency_per_provider))
        try:
            async with asyncio.timeout(None if deadline is None else max(0.0, deadline - self._clock())):
                await limit.acquire()
        except TimeoutError:
            raise _GiveUp(f"{provider.label} was busy with other questions until the deadline") from None
        try:
            budget = self.policy.timeout
            if deadline is not None:
                budget = min(budget, deadline - self._clock())
            try:
                async with asyncio.timeout(max(0.0, budget)):
                    return await provider.complete(request, on_text)
            except TimeoutError as exc:
                raise _AttemptTimedOut(
                    f"{provider.label} did not answer within {_secs(budget)}", provider=name
                ) from exc
        finally:
            limit.release()

    def _backoff(self, exc: ProviderError, attempts: int) -> float:
        """Full jitter, with Retry-After as the minimum; a Retry-After beyond the cap ends the call."""
        policy = self.policy
        wait = self._random() * min(policy.backoff_cap, policy.backoff_base * 2.0 ** (attempts - 1))
        if isinstance(exc, ProviderRateLimitedError) and exc.retry_after is not None:
            if exc.retry_after > policy.retry_after_cap:
                raise _GiveUp(
                    f"{exc.message}: asked to wait {_secs(exc.retry_after)}, "
                    f"more than the {_secs(policy.retry_after_cap)} limit"
                )
            wait = max(wait, exc.retry_after)
        return wait

    def _admit(self, breaker: _Breaker, who: str) -> tuple[str | None, bool]:
        """(reason the breaker refuses the call, or None; whether this call is the half-open probe).
        `who` names the model: "OpenAI gpt-5-mini"."""
        if breaker.open_until is None:
            return None, False
        left = breaker.open_until - self._clock()
        if left > 0:
            return (
                f"{who} is failing; paused for {math.ceil(left)} s after {_errors(breaker.failures)} in a row"
            ), False
        if breaker.probing:
            return (f"{who} is failing; checking whether it is back ({_errors(breaker.failures)} in a row)"), False
        breaker.probing = True
        return None, True

    def _record(self, breaker: _Breaker, probe: bool, retryable: bool | None) -> None:
        """None: success. Only retryable failures (timeouts, 5xx, overload, 429) count."""
        if probe:
            breaker.probing = False
        if retryable is None:
            breaker.failures, breaker.open_until = 0, None
        elif retryable:
            breaker.failures += 1
            if breaker.failures >= self.policy.breaker_threshold:  # a failed probe re-opens it too
                breaker.open_until = self._clock() + self.policy.breaker_cooldown

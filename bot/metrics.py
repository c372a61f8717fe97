"""Prometheus metrics: the core's `Metrics` protocol (the adapters report platform calls and acks
through it too). Each instance owns its registry, so several bots or tests in one process never clash."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from core.metrics import REASONS

LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
ACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5)


class PrometheusMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.questions = Counter(
            "consensus_questions", "Questions asked (follow-ups included).", ["platform"], registry=r
        )
        self.answers = Counter(
            "consensus_answers", "Answers finished, by model and status.", ["provider", "status"], registry=r
        )
        self.latency = Histogram(
            "consensus_provider_latency_seconds",
            "Time to a model's final answer or failure.",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "consensus_provider_retries", "Model calls tried again.", ["provider", "reason"], registry=r
        )
        self.failures = Counter(
            "consensus_provider_failures", "Answers that failed, by reason.", ["provider", "reason"], registry=r
        )
        self.tokens = Counter("consensus_tokens", "Tokens used.", ["provider", "direction"], registry=r)
        self.cost = Counter("consensus_cost_usd", "Cost of the answers with a known price.", ["provider"], registry=r)
        self.platform_calls = Counter(
            "consensus_platform_calls", "Calls to the Slack and Discord APIs.", ["platform", "method"], registry=r
        )
        self.rate_limited = Counter(
            "consensus_platform_rate_limited",
            "Slack and Discord API calls answered 429.",
            ["platform", "method"],
            registry=r,
        )
        self.ack = Histogram(
            "consensus_ack_latency_seconds",
            "From receiving a command or click to acknowledging it.",
            ["platform", "kind"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("consensus_batches_in_flight", "Questions this process is answering now.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def track_in_flight(self, count: Callable[[], int]) -> None:
        self.in_flight.set_function(lambda: float(count()))

    # -- the core's protocol --------------------------------------------------------------------

    def question_asked(self, platform: str) -> None:
        self.questions.labels(platform).inc()

    def answer_finished(
        self,
        provider: str,
        status: str,
        latency_ms: int,
        tokens_in: int | None,
        tokens_out: int | None,
        cost_usd: float | None,
    ) -> None:
        self.answers.labels(provider, str(status)).inc()
        self.latency.labels(provider).observe(latency_ms / 1000)
        self.tokens.labels(provider, "in").inc(tokens_in or 0)
        self.tokens.labels(provider, "out").inc(tokens_out or 0)
        if cost_usd:
            self.cost.labels(provider).inc(cost_usd)

    def call_retried(self, provider: str, reason: str) -> None:
        self.retries.labels(provider, reason if reason in REASONS else "other").inc()

    def call_failed(self, provider: str, reason: str) -> None:
        self.failures.labels(provider, reason if reason in REASONS else "other").inc()

    def platform_call(self, platform: str, method: str, status: int) -> None:
        self.platform_calls.labels(platform, method).inc()
        if status == 429:
            self.rate_limited.labels(platform, method).inc()

    def ack_latency(self, platform: str, kind: str, seconds: float) -> None:
        self.ack.labels(platform, kind).observe(seconds)

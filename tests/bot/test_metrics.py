"""Metrics from the real core against the fake model server: retries and failures carry one of
the fixed reasons, answers their model and status; and a replica that lost a batch's lease stores
and announces nothing for it (the replica that took it over does)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from adapters.calltrace import api_method
from adapters.discord.client import ConsensusBot, ShardedConsensusBot, build_discord_bot
from bot.metrics import PrometheusMetrics
from core.domain import AnswerStatus, Platform, Question, WorkspaceRef
from core.errors import ConfigError
from core.events import AnswerReady, BatchRanked, Event
from core.store.tables import RequestBatch
from tests.adapters.discord.helpers import eventually
from tests.bot.test_ops import sample
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, Ok, rate_limited, unauthorized

TEAM = WorkspaceRef(Platform.SLACK, "T1")


def with_metrics(core: object) -> PrometheusMetrics:
    metrics = PrometheusMetrics()
    core.fanout.metrics = core.fanout.caller.metrics = metrics  # type: ignore[attr-defined]
    metrics.track_in_flight(lambda: core.fanout.in_flight)  # type: ignore[attr-defined]
    return metrics


async def test_retries_failures_and_answers_are_counted_by_fixed_labels(
    make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    core = await make_core()
    metrics = with_metrics(core)
    llm_server.script("chat", [rate_limited(0), Ok("Fine after one retry.")], model="gpt-test")
    llm_server.script("messages", [unauthorized("anthropic")], model="claude-test")
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Count me"))
    await core.service.wait_for_batch(batch.id, TEAM)

    text = metrics.render().decode()
    assert sample(text, "consensus_questions_total", platform="slack") == 1
    assert sample(text, "consensus_provider_retries_total", provider="openai/gpt-test", reason="rate_limited") == 1
    assert sample(text, "consensus_provider_failures_total", provider="anthropic/claude-test", reason="auth") == 1
    assert sample(text, "consensus_answers_total", provider="openai/gpt-test", status="completed") == 1
    assert sample(text, "consensus_answers_total", provider="anthropic/claude-test", status="failed") == 1
    assert sample(text, "consensus_provider_latency_seconds_count", provider="ollama/llama-test") == 1
    assert sample(text, "consensus_batches_in_flight") == 0
    assert "Invalid API key" not in text  # no free text in labels


async def test_a_replica_that_lost_the_lease_writes_nothing(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    core = await make_core(database_url=database_url)
    gate = asyncio.Event()
    llm_server.script("chat", [Ok("Too late.", gate=gate)], model="gpt-test")
    seen: list[Event] = []

    async def sink(event: Event) -> None:
        seen.append(event)

    core.service.subscribe(Platform.SLACK, sink)
    batch = await core.service.ask(Question(TEAM, "C1", "U1", "Who owns this?"))
    await llm_server.wait_for("POST /v1/chat/completions", 1, timeout=10)
    await eventually(lambda: sum(isinstance(e, AnswerReady) for e in seen) == 2, "the two quick answers")
    async with core.store.write() as repo:  # another replica claimed the batch meanwhile
        await repo.session.execute(
            update(RequestBatch).where(RequestBatch.id == batch.id).values(lease_owner="another-replica")
        )
    gate.set()
    await core.service.wait_idle()

    stored = await core.service.get_batch(batch.id, TEAM)
    late = next(a for a in stored.answers if a.provider_id == "openai/gpt-test")
    assert len(llm_server.requests("chat", model="gpt-test")) == 1  # asked once: held, never retried
    assert late.status == AnswerStatus.RUNNING and late.content is None
    assert not any(isinstance(e, AnswerReady) and e.answer.id == late.id for e in seen)
    assert not any(isinstance(e, BatchRanked) for e in seen), "a batch it no longer owns was ranked"


class _Service:
    def subscribe(self, platform: str, sink: object, *, delivers: bool = False) -> None:
        pass


async def test_discord_sharding_options() -> None:
    one = build_discord_bot(_Service(), token="t", shard_count=4, shard_ids=[2])
    assert type(one) is ConsensusBot and (one.shard_id, one.shard_count) == (2, 4) and not one.sync_commands
    several = build_discord_bot(_Service(), token="t", shard_count=4, shard_ids=[0, 1])
    assert isinstance(several, ShardedConsensusBot) and several.shard_ids == [0, 1] and several.sync_commands
    with pytest.raises(ConfigError, match="DISCORD_SHARD_COUNT"):
        build_discord_bot(_Service(), token="t", shard_ids=[1])
    with pytest.raises(ConfigError, match="between 0 and"):
        build_discord_bot(_Service(), token="t", shard_count=2, shard_ids=[2])
    await one.close()
    await several.http.close()  # never started: no gateway to close (discord.py's close() expects one)


def test_api_labels_are_bounded_and_never_carry_tokens() -> None:
    assert api_method("slack", "POST", "/api/chat.update") == "chat.update"
    assert api_method("slack", "POST", "/respond/abc") == "other"
    route = api_method("discord", "POST", "/api/v10/interactions/123456789012345678/aW50ZXJhY3Rpb24tdG9rZW4/callback")
    assert route == "POST /interactions/{id}/{token}/callback"
    assert (
        api_method("discord", "PATCH", "/api/v10/webhooks/42424242/secret-token/messages/987654321")
        == "PATCH /webhooks/{id}/{token}/messages/{id}"
    )

"""The call policy end to end: real SDKs, the fake server, injected sleep/random/clock (no timing asserts)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, Completion, OnText
from core.providers.openai import OpenAIProvider
from core.resilience import CallPolicy, ResilientCaller
from tests.fakes.llm_server import (
    FakeLLMServer,
    Hang,
    Malformed,
    Ok,
    Status,
    error_body,
    overloaded,
    quota_exhausted,
    rate_limited,
    server_error,
    unauthorized,
)

KEY = "sk-test-SECRET-key-1234567890"
REQUEST = ChatRequest((ChatMessage("user", "ping"),), system="be brief", max_tokens=32)
FAST = CallPolicy(timeout=5.0, max_retries=3, backoff_base=0.01, backoff_cap=8.0)
KINDS = [("openai", "chat", "OpenAI"), ("anthropic", "messages", "Anthropic")]
Pair = tuple[OpenAIProvider | AnthropicProvider, OpenAIProvider | AnthropicProvider]


class Sleeps(list[float]):
    """Records the waits instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Collector(list[str]):
    async def __call__(self, text: str) -> None:
        self.append(text)


@pytest.fixture
async def pair(request: pytest.FixtureRequest, llm_server: FakeLLMServer) -> AsyncIterator[Pair]:
    """Two models ("bad", "good") of one provider, sharing one pooled client."""
    kind = getattr(request, "param", "openai")
    bad: OpenAIProvider | AnthropicProvider
    if kind == "openai":
        bad = OpenAIProvider.create("bad", api_key=KEY, base_url=f"{llm_server.url}/v1")
    else:
        bad = AnthropicProvider.create("bad", api_key=KEY, base_url=llm_server.url)
    yield bad, bad.for_model("good")
    await bad.aclose()


def caller(sleeps: Sleeps | None = None, clock: Clock | None = None, **policy: Any) -> ResilientCaller:
    return ResilientCaller(
        dataclasses.replace(FAST, **policy),
        sleep=Sleeps() if sleeps is None else sleeps,
        random=lambda: 1.0,
        clock=Clock() if clock is None else clock,
    )


# (name, steps for the bad model given the provider name, policy changes, attempts, answer or error)
CASES: list[tuple[str, Any, dict[str, Any], int, str]] = [
    ("429 then ok", lambda p: [rate_limited(0.5, p), Ok("fine")], {}, 2, "fine"),
    (
        "429 beyond the cap",
        lambda p: [rate_limited(120, p)],
        {},
        1,
        "error: rate limited by {L}: asked to wait 120 s, more than the 30 s limit",
    ),
    (
        "500 every time",
        lambda p: [server_error(p)] * 5,
        {},
        4,
        "error: {L} had a server error (500), gave up after 4 tries",
    ),
    ("529 twice then ok", lambda p: [overloaded(), overloaded(), Ok("fine")], {}, 3, "fine"),
    (
        "hang",
        lambda p: [Hang(10), Hang(10)],
        {"timeout": 0.2, "max_retries": 1},
        2,
        "error: {L} did not answer within 0.2 s (2 tries)",
    ),
    ("malformed then ok", lambda p: [Malformed(), Ok("fine")], {}, 2, "fine"),
    (
        "malformed always",
        lambda p: [Malformed()] * 2,
        {"max_retries": 1},
        2,
        "error: {L} sent a reply that could not be read, gave up after 2 tries",
    ),
    ("cut stream then ok", lambda p: [Ok("fine and long", cut_after=1), Ok("fine and long")], {}, 2, "fine and long"),
    ("mid-stream overload then ok", lambda p: [Ok("fine", fail_after=1), Ok("fine")], {}, 2, "fine"),
    ("401", lambda p: [unauthorized(p)], {}, 1, "error: {L} rejected the API key"),
    ("quota", lambda p: [quota_exhausted(p)], {}, 1, "error: {L}'s quota is exhausted"),
    (
        "bad request",
        lambda p: [Status(400, error_body("invalid_request_error", "bad model"))],
        {},
        1,
        "error: {L} rejected the request (400): bad model",
    ),
]


@pytest.mark.parametrize("pair,endpoint,label", KINDS, indirect=["pair"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_fault_outcome_and_the_other_model_is_untouched(
    llm_server: FakeLLMServer, pair: Pair, endpoint: str, label: str, case: tuple[str, Any, dict[str, Any], int, str]
) -> None:
    _name, steps, policy, attempts, expected = case
    bad, good = pair
    llm_server.script(endpoint, steps("anthropic" if endpoint == "messages" else "openai"), model="bad")
    run = caller(**policy)
    on_text = Collector()
    bad_outcome, good_outcome = await asyncio.gather(
        run.call(bad, REQUEST, on_text), run.call(good, REQUEST, Collector())
    )
    assert bad_outcome.attempts == attempts
    assert len(llm_server.requests(endpoint, model="bad")) == attempts
    if expected.startswith("error: "):
        assert bad_outcome.completion is None
        assert bad_outcome.error == expected.removeprefix("error: ").format(L=label)
    else:
        assert bad_outcome.error is None and bad_outcome.completion is not None
        assert bad_outcome.completion.text == expected
        assert on_text[-1] == expected  # a restarted stream ends with the whole answer
    assert good_outcome.attempts == 1 and good_outcome.completion is not None
    assert good_outcome.completion.text == "ping"  # the fake echoes
    assert len(llm_server.requests(endpoint, model="good")) == 1


async def test_retry_after_is_the_minimum_wait(llm_server: FakeLLMServer, pair: Pair) -> None:
    sleeps = Sleeps()
    llm_server.script("chat", [rate_limited(2, "openai"), Status(429, headers={"retry-after-ms": "1500"}), Ok()])
    outcome = await caller(sleeps).call(pair[0], REQUEST)
    assert outcome.ok and outcome.attempts == 3
    assert sleeps == [2.0, 1.5]
    assert [c.headers["x-stainless-retry-count"] for c in llm_server.calls] == ["0", "0", "0"]  # ours, not SDK's


async def test_backoff_is_exponential_with_full_jitter(llm_server: FakeLLMServer, pair: Pair) -> None:
    for draw, expected in ((1.0, [0.5, 1.0, 2.0, 4.0, 5.0]), (0.5, [0.25, 0.5, 1.0, 2.0, 2.5]), (0.0, [0.0] * 5)):
        sleeps = Sleeps()
        policy = CallPolicy(max_retries=5, backoff_base=0.5, backoff_cap=5.0, breaker_threshold=99)
        run = ResilientCaller(policy, sleep=sleeps, random=lambda draw=draw: draw)
        llm_server.script("chat", [server_error("openai")] * 6)
        outcome = await run.call(pair[0], REQUEST)
        assert outcome.attempts == 6 and outcome.error is not None
        assert sleeps == pytest.approx(expected)


async def test_never_sleeps_past_the_deadline(llm_server: FakeLLMServer, pair: Pair) -> None:
    clock, sleeps = Clock(), Sleeps()
    llm_server.script("chat", [server_error("openai")] * 3)
    run = caller(sleeps, clock, backoff_base=1.0)
    outcome = await run.call(pair[0], REQUEST, deadline=clock.now + 0.5)
    assert sleeps == [] and outcome.attempts == 1
    assert outcome.error == "OpenAI had a server error (500), gave up after 1 try"


async def test_the_deadline_shortens_the_attempt(llm_server: FakeLLMServer, pair: Pair) -> None:
    loop = asyncio.get_running_loop()
    llm_server.script("chat", [Hang(10)])
    run = ResilientCaller(FAST, sleep=Sleeps(), clock=loop.time)
    outcome = await run.call(pair[0], REQUEST, deadline=loop.time() + 0.2)
    assert outcome.attempts == 1
    assert outcome.error == "OpenAI did not answer within 0.2 s (1 try)"
    assert outcome.latency_ms < 4000  # coarse: far below the 5 s per-attempt timeout


async def test_breaker_opens_fails_fast_and_recovers(llm_server: FakeLLMServer, pair: Pair) -> None:
    clock = Clock()
    run = caller(clock=clock, max_retries=0, breaker_threshold=2, breaker_cooldown=30.0)
    other = AnthropicProvider.create("claude", api_key=KEY, base_url=llm_server.url)
    llm_server.script("chat", [server_error("openai"), server_error("openai")], model="bad")
    try:
        for _ in range(2):
            assert (await run.call(pair[0], REQUEST)).error == "OpenAI had a server error (500), gave up after 1 try"
        fast = await run.call(pair[0], REQUEST)  # the card says which model is paused
        assert (fast.attempts, fast.error) == (0, "OpenAI bad is failing; paused for 30 s after 2 errors in a row")
        assert len(llm_server.calls) == 2
        assert (await run.call(other, REQUEST)).ok  # another provider is not affected
        clock.now += 12
        assert (await run.call(pair[0], REQUEST)).error == (
            "OpenAI bad is failing; paused for 18 s after 2 errors in a row"
        )
        clock.now += 18
        probe = await run.call(pair[0], REQUEST)  # half-open: one call goes through, and succeeds
        assert probe.ok and probe.attempts == 1
        assert (await run.call(pair[0], REQUEST)).ok  # closed again
    finally:
        await other.aclose()


async def test_one_broken_model_never_pauses_another(llm_server: FakeLLMServer, pair: Pair) -> None:
    """The breaker is per model and per server: a healthy model of the same provider keeps
    answering, and so does the same model reached at another base URL."""
    run = caller(max_retries=0, breaker_threshold=2)
    bad, good = pair
    async with FakeLLMServer() as second:
        elsewhere = OpenAIProvider.create("bad", api_key=KEY, base_url=f"{second.url}/v1")
        llm_server.script("chat", [server_error("openai")] * 2, model="bad")
        try:
            for _ in range(3):
                await run.call(bad, REQUEST)
            paused = await run.call(bad, REQUEST)
            assert paused.error == "OpenAI bad is failing; paused for 30 s after 2 errors in a row"
            assert (await run.call(good, REQUEST)).ok
            assert (await run.call(elsewhere, REQUEST)).ok
        finally:
            await elsewhere.aclose()


async def test_half_open_lets_one_probe_through_and_a_failed_probe_reopens(
    llm_server: FakeLLMServer, pair: Pair
) -> None:
    clock = Clock()
    run = caller(clock=clock, max_retries=0, breaker_threshold=1, breaker_cooldown=10.0)
    gate = asyncio.Event()
    llm_server.script("chat", [server_error("openai"), Ok("probe", gate=gate), server_error("openai")])
    assert not (await run.call(pair[0], REQUEST)).ok
    clock.now += 10
    probe = asyncio.create_task(run.call(pair[0], REQUEST))
    await llm_server.wait_for("POST /v1/chat/completions", 2)
    blocked = await run.call(pair[0], REQUEST)
    assert blocked.attempts == 0
    assert blocked.error == "OpenAI bad is failing; checking whether it is back (1 error in a row)"
    gate.set()
    assert (await probe).ok
    assert not (await run.call(pair[0], REQUEST)).ok  # one failure opens it again (threshold 1)
    clock.now += 10
    llm_server.script("chat", [server_error("openai")])
    assert not (await run.call(pair[0], REQUEST)).ok  # the probe fails: open for another cooldown
    again = await run.call(pair[0], REQUEST)
    assert again.error == "OpenAI bad is failing; paused for 10 s after 2 errors in a row"


async def test_a_breaker_that_opens_mid_call_stops_the_retries(llm_server: FakeLLMServer, pair: Pair) -> None:
    llm_server.script("chat", [server_error("openai")] * 4)
    outcome = await caller(breaker_threshold=2).call(pair[0], REQUEST)
    assert (outcome.attempts, outcome.error) == (2, "OpenAI had a server error (500), gave up after 2 tries")
    assert len(llm_server.calls) == 2


async def test_non_retryable_errors_do_not_trip_the_breaker(llm_server: FakeLLMServer, pair: Pair) -> None:
    run = caller(breaker_threshold=1)
    llm_server.script("chat", [unauthorized("openai"), quota_exhausted("openai"), Status(404)])
    for _ in range(3):
        outcome = await run.call(pair[0], REQUEST)
        assert outcome.attempts == 1 and not outcome.ok
    assert (await run.call(pair[0], REQUEST)).ok


async def test_concurrency_limit_per_provider_is_shared(llm_server: FakeLLMServer, pair: Pair) -> None:
    run = caller(concurrency_per_provider=2)
    gate = asyncio.Event()
    llm_server.script("chat", [Ok(gate=gate) for _ in range(6)])
    tasks = [asyncio.create_task(run.call(pair[i % 2], REQUEST)) for i in range(6)]  # two models, one limit
    await llm_server.wait_for("POST /v1/chat/completions", 2)
    other = AnthropicProvider.create("claude", api_key=KEY, base_url=llm_server.url)
    try:
        assert (await run.call(other, REQUEST)).ok  # another provider has its own limit
    finally:
        await other.aclose()
    await asyncio.sleep(0.1)  # give any over-limit request the chance to arrive
    assert len(llm_server.requests("chat")) == 2
    gate.set()
    outcomes = await asyncio.gather(*tasks)
    assert all(o.ok for o in outcomes)
    assert llm_server.max_in_flight["chat"] == 2


async def test_cancellation_propagates_and_frees_the_slot(llm_server: FakeLLMServer, pair: Pair) -> None:
    run = caller(concurrency_per_provider=1)
    llm_server.script("chat", [Hang(10)])
    task = asyncio.create_task(run.call(pair[0], REQUEST))
    await llm_server.wait_for("POST /v1/chat/completions")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await run.call(pair[0], REQUEST)).ok


class Broken:
    id, label = "plugin/x", "Plugin"

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        raise RuntimeError("bug in a plugin")

    async def aclose(self) -> None:
        pass


async def test_an_unexpected_exception_is_data_too() -> None:
    outcome = await caller().call(Broken(), REQUEST)
    assert (outcome.attempts, outcome.error) == (1, "Plugin failed unexpectedly (RuntimeError)")


async def test_the_key_never_reaches_the_outcome(llm_server: FakeLLMServer, pair: Pair) -> None:
    llm_server.script("chat", [Status(400, error_body("invalid_request_error", f"bad key {KEY}"))])
    outcome = await caller().call(pair[0], REQUEST)
    assert outcome.error is not None and KEY not in outcome.error and "[redacted]" in outcome.error


def test_default_policy() -> None:
    assert CallPolicy() == CallPolicy(
        timeout=60.0,
        max_retries=3,
        backoff_base=0.5,
        backoff_cap=8.0,
        retry_after_cap=30.0,
        concurrency_per_provider=64,
        breaker_threshold=5,
        breaker_cooldown=30.0,
    )

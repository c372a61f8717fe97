"""Provider micro-benchmark: the CPU one model call costs in this process.

    python -m bench.providers [--calls N] [--concurrency N] [--repeats N] [--only NAME ...] [--profile NAME]

The fake model server runs in a process of its own (bench.harness), answering at once (streams come
in the harness's deltas), so the measured process's CPU is the providers' and the SDKs' alone.
Each run makes `calls` calls, `concurrency` at a time, and divides the process CPU time
(time.process_time) by the number of calls; the table shows median and p95 across runs. Scenarios
take turns run by run, so a busy neighbour on a shared machine weighs on all of them alike.
Printed only: nothing is written to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.common import p50, p95, table
from bench.harness import ANSWER, CHUNK_DELAY, CHUNKS, llm_process
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, OnText, Provider
from core.providers.openai import OpenAIProvider

# The harness subtracts the streamed deltas' spacing from each model's latency: this leaves no wait
# before the headers, and a stream that lasts only its deltas.
NO_WAIT = (CHUNKS - 1) * CHUNK_DELAY
MODELS = {"openai/gpt-bench": NO_WAIT, "anthropic/claude-bench": NO_WAIT}
REQUEST = ChatRequest(
    (
        ChatMessage("user", "Our nightly ETL job sometimes takes three hours instead of forty minutes."),
        ChatMessage("assistant", "Check for lock waits first, then compare the plans of a slow and a fast night."),
        ChatMessage("user", "How do we tell a lock wait from a slow plan?"),
    ),
    system="Answer briefly. End with a TL;DR line and a WHY line.",
    max_tokens=1024,
)


async def _ignore(text: str) -> None:
    """Stands in for the fan-out's progress callback, which mostly drops updates between publishes."""


@dataclass(frozen=True)
class Scenario:
    name: str
    provider: Provider
    on_text: OnText | None

    async def call(self) -> None:
        completion = await self.provider.complete(REQUEST, self.on_text)
        if completion.text != ANSWER:
            raise RuntimeError(f"{self.name}: unexpected answer {completion.text[:60]!r}")


async def _run(call: Callable[[], Awaitable[None]], calls: int, concurrency: int) -> tuple[float, float]:
    """(CPU µs per call, wall seconds) for `calls` calls, at most `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await call()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return (time.process_time() - cpu) * 1e6 / calls, time.perf_counter() - wall


def _scenarios(url: str) -> tuple[list[Scenario], list[Provider]]:
    openai = OpenAIProvider.create("gpt-bench", api_key="sk-bench-openai", base_url=f"{url}/v1")
    anthropic = AnthropicProvider.create("claude-bench", api_key="sk-ant-bench", base_url=url)
    scenarios = [
        Scenario("OpenAI streamed", openai, _ignore),
        Scenario("OpenAI not streamed", openai, None),
        Scenario("Anthropic streamed", anthropic, _ignore),
        Scenario("Anthropic not streamed", anthropic, None),
    ]
    return scenarios, [openai, anthropic]


async def measure(url: str, calls: int, concurrency: int, repeats: int, only: list[str] | None) -> str:
    scenarios, providers = _scenarios(url)
    chosen = [s for s in scenarios if not only or any(o.lower() in s.name.lower() for o in only)]
    cpu: dict[str, list[float]] = {s.name: [] for s in chosen}
    wall: dict[str, list[float]] = {s.name: [] for s in chosen}
    try:
        for scenario in chosen:  # warm-up: connections, imports, the SDKs' model caches
            await _run(scenario.call, concurrency, concurrency)
        for run in range(repeats):
            for scenario in chosen:
                us, seconds = await _run(scenario.call, calls, concurrency)
                cpu[scenario.name].append(us)
                wall[scenario.name].append(seconds)
            print(f"  run {run + 1}/{repeats}: " + ", ".join(f"{n} {v[-1]:.0f} µs" for n, v in cpu.items()))
    finally:
        for provider in providers:
            await provider.aclose()
    headers = ["call", "CPU µs per call (median)", "CPU µs per call (p95)", "wall s per run (median)"]
    rows = [[name, f"{p50(v):.0f}", f"{p95(v):.0f}", f"{p50(wall[name]):.2f}"] for name, v in cpu.items()]
    note = (
        f"{repeats} runs of {calls} calls, {concurrency} at a time; streams arrive in {CHUNKS} deltas "
        f"{CHUNK_DELAY * 1000:g} ms apart; CPU is this process's (time.process_time) ÷ calls."
    )
    return note + "\n\n" + table(headers, rows)


async def profile(url: str, name: str, calls: int, concurrency: int) -> None:
    from pyinstrument import Profiler

    scenarios, providers = _scenarios(url)
    scenario = next(s for s in scenarios if name.lower() in s.name.lower())
    try:
        await _run(scenario.call, concurrency, concurrency)
        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        await _run(scenario.call, calls, concurrency)
        profiler.stop()
    finally:
        for provider in providers:
            await provider.aclose()
    print(profiler.output_text(unicode=False, color=False, show_all=True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=500, help="calls per run (default 500)")
    ap.add_argument("--concurrency", type=int, default=50, help="calls at a time (default 50)")
    ap.add_argument("--repeats", type=int, default=7, help="runs per scenario (default 7)")
    ap.add_argument("--only", nargs="+", help="scenarios whose name contains one of these words")
    ap.add_argument("--profile", metavar="NAME", help="profile one scenario with pyinstrument instead")
    args = ap.parse_args(argv)
    steps = (args.calls * args.repeats + args.concurrency) * 4 + 100
    with llm_process(MODELS, steps) as url:
        if args.profile:
            asyncio.run(profile(url, args.profile, args.calls, args.concurrency))
            return 0
        body = asyncio.run(measure(url, args.calls, args.concurrency, args.repeats, args.only))
    print("\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

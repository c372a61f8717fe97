"""Fan-out benchmark: how close a question gets to its slowest model.

    python -m bench.fanout [--quick] [--questions N] [--profile] [--no-write]

Five models, each on its own provider (OpenAI, Anthropic and three OpenAI-compatible servers),
all served by the fake LLM server in a separate process, streaming as the providers do, with
latencies 0.2, 0.5, 1.0, 1.5 and 2.0 s. Metric: wall time from `ask()` to the last stored answer
(its AnswerReady event, published after the commit) and to BatchRanked, divided by the slowest
model's latency. One question (repeated), then N concurrent questions with the default
CallPolicy (concurrency_per_provider=16) and with the limit raised to 256.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PostgresUnavailable, p50, p95, scratch_postgres, table, write_section
from bench.harness import CHUNK_DELAY, CHUNKS, llm_process
from bot.settings import Settings
from bot.wiring import Core, build_core
from core.domain import Platform, Question, WorkspaceRef
from core.events import AnswerReady, BatchRanked, Event
from core.resilience import CallPolicy

# model id -> latency in seconds
MODELS = {
    "openai/gpt-bench": 0.2,
    "anthropic/claude-bench": 0.5,
    "ollama/llama-bench": 1.0,
    "vllm/qwen-bench": 1.5,
    "groq/mixtral-bench": 2.0,
}
SLOWEST = max(MODELS.values())
TARGET_ONE, TARGET_MANY = 1.05, 1.2
WORKSPACE = WorkspaceRef(Platform.TERMINAL, "bench")
QUESTION = (
    "Our nightly ETL job on PostgreSQL 16 sometimes takes three hours instead of forty minutes. "
    "What should we check first, and how do we tell a lock wait from a slow plan?"
)
_ANSWER = (
    "Start with pg_stat_activity while the job is slow: a wait_event_type of Lock means it is queued behind "
    "another transaction, and pg_blocking_pids() names the blocker. If it is not waiting, capture the plan "
    "with auto_explain (log_min_duration around a minute, log_analyze on) and compare it with a fast night: "
    "a flipped join order or a sequential scan on a table that grew usually means stale statistics, so run "
    "ANALYZE after the bulk load. Check {extra}. Finally look at checkpoints and autovacuum in the logs; "
    "a forced checkpoint during the load can double the I/O.\n\n"
    "TL;DR: Check pg_stat_activity for lock waits first, then compare plans with auto_explain and {short}.\n"
    "WHY: Lock waits and plan flips cause most such slowdowns, and both are visible with built-in tools."
)
_EXTRAS = (
    "work_mem for sorts spilling to disk",
    "temp_file usage in pg_stat_database",
    "whether a long-running report holds a snapshot",
    "index bloat on the staging tables",
    "the I/O wait on the volume during the load",
)


def answer_text(n: int) -> str:
    return _ANSWER.format(extra=_EXTRAS[n % len(_EXTRAS)], short="refresh statistics after the load")


@contextmanager
def provider_env(url: str) -> Iterator[None]:
    """Point the OpenAI-compatible providers at the fake (Settings reads them from the environment)."""
    names = {
        f"{m.split('/')[0].upper()}_{k}": v
        for m in MODELS
        if not m.startswith(("openai/", "anthropic/"))
        for k, v in (("BASE_URL", f"{url}/v1"), ("API_KEY", "bench-key"))
    }
    saved = {k: os.environ.get(k) for k in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- one run ----------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """When each batch's answers were stored and when it was ranked (perf_counter seconds)."""

    ready: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    ranked: dict[int, float] = field(default_factory=dict)

    async def sink(self, event: Event) -> None:
        if isinstance(event, AnswerReady):
            self.ready[event.answer.batch_id].append(time.perf_counter())
        elif isinstance(event, BatchRanked):
            self.ranked[event.batch.id] = time.perf_counter()


async def make_core(url: str, database_url: str, limit: int) -> Core:
    config = Settings(
        _env_file=None,
        database_url=database_url,
        consensus_models=",".join(MODELS),
        openai_api_key="sk-bench-openai",
        openai_base_url=f"{url}/v1",
        anthropic_api_key="sk-ant-bench",
        anthropic_base_url=url,
    )
    policy = dataclasses.replace(CallPolicy(), concurrency_per_provider=limit)
    return await build_core(config, migrate=True, policy=policy)


async def ask_many(core: Core, count: int) -> tuple[float, float, list[float], list[float]]:
    """`count` concurrent questions: (last answer stored, last ranked) after the first ask, in seconds,
    and per question (ask -> its last answer, ask -> ranked)."""
    timeline = Timeline()
    core.service.subscribe(WORKSPACE.platform.value, timeline.sink)
    starts: dict[int, float] = {}

    async def one(i: int) -> None:
        start = time.perf_counter()
        batch = await core.service.ask(Question(WORKSPACE, "C1", "U1", f"{QUESTION} (#{i})"))
        starts[batch.id] = start

    t0 = time.perf_counter()
    with ErrorTally() as errors:
        refused = [
            r
            for r in await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
            if isinstance(r, BaseException)
        ]
        await core.service.wait_idle()
    core.service.bus.unsubscribe(WORKSPACE.platform.value, timeline.sink)
    missing = [b for b in starts if len(timeline.ready[b]) != len(MODELS) or b not in timeline.ranked]
    if missing or refused:
        why = errors.summary(refused)
        raise RuntimeError(f"{len(missing) + len(refused)} of {count} questions did not complete: {why}")
    last_ready = max(max(timeline.ready[b]) for b in starts) - t0
    last_ranked = max(timeline.ranked[b] for b in starts) - t0
    per_ready = [max(timeline.ready[b]) - s for b, s in starts.items()]
    per_ranked = [timeline.ranked[b] - s for b, s in starts.items()]
    return last_ready, last_ranked, per_ready, per_ranked


class ErrorTally(logging.Handler):
    """Counts the errors the core logs (a failed batch is logged, not raised) while a run lasts."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        cause = exc.__cause__ if exc is not None and exc.__cause__ is not None else exc
        self.kinds[f"{type(cause).__name__}: {str(cause).split('(')[0].strip()}" if cause else record.getMessage()] += 1

    def __enter__(self) -> ErrorTally:
        logging.getLogger("core").addHandler(self)
        logging.getLogger("core").propagate = False  # counted here instead of a traceback per batch
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("core").removeHandler(self)
        logging.getLogger("core").propagate = True

    def summary(self, refused: list[BaseException]) -> str:
        kinds = self.kinds + Counter(f"ask() raised {type(e).__name__}: {e}" for e in refused)
        return "; ".join(f"{n}× {kind}" for kind, n in kinds.most_common(3)) or "no error logged"


def ratio(seconds: float) -> str:
    return f"{seconds / SLOWEST:.3f}"


async def scenario(
    url: str, database_url: str, limit: int, count: int, repeats: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    core = await make_core(url, database_url, limit)
    try:
        await ask_many(core, 1)  # warm-up: connections, caches
        ready, ranked, per_ready, per_ranked = [], [], [], []
        for _ in range(repeats):
            cpu = time.process_time()
            r, k, pr, pk = await ask_many(core, count)
            cpu_ms = (time.process_time() - cpu) * 1000 / count
            ready.append(r)
            ranked.append(k)
            per_ready += pr
            per_ranked += pk
            print(
                f"    {count} question(s), limit {limit}: last answer {ratio(r)} × slowest, ranked {ratio(k)}, "
                f"CPU {cpu_ms:.1f} ms per question"
            )
        return ready, ranked, per_ready, per_ranked
    finally:
        await core.aclose()


async def run(count: int, repeats_one: int, repeats_many: int, profile: bool) -> str:
    headers = [
        "database",
        "questions",
        "concurrency_per_provider",
        "runs",
        "to last answer ÷ 2.0 s (p50 / p95)",
        "to BatchRanked ÷ 2.0 s (p50 / p95)",
        "per question to ranked (p50 / p95)",
        "target",
        "verdict",
    ]
    rows: list[list[object]] = []
    plans = [(1, 16, repeats_one), (count, 16, max(1, repeats_many - 1)), (count, 256, repeats_many)]
    answers = {model_id: answer_text(n) for n, model_id in enumerate(MODELS)}
    steps = (count + 2) * (2 * repeats_many + repeats_one + 8)
    # The fake runs in its own process, so that it does not share the event loop being measured.
    with llm_process(MODELS, steps, answers) as url, provider_env(url):
        with tempfile.TemporaryDirectory(prefix="consensus-bench-") as folder:
            databases = [("SQLite", f"sqlite+aiosqlite:///{Path(folder) / 'fanout.db'}")]
            for name, database_url in databases:
                print(name)
                for n, limit, repeats in plans:
                    rows.append(await _row(name, url, database_url, n, limit, repeats))
        print("PostgreSQL")
        try:
            async with scratch_postgres() as database_url:
                for n, limit, repeats in (plans[0], (count, 256, 1)):
                    rows.append(await _row("PostgreSQL", url, database_url, n, limit, repeats))
        except PostgresUnavailable as exc:
            print(f"  skipped: {exc}")
            rows.append(["PostgreSQL", "-", "-", "-", "-", "-", "-", "-", f"skipped: {exc}"])
        if profile:
            with tempfile.TemporaryDirectory(prefix="consensus-bench-") as folder:
                await profile_many(url, f"sqlite+aiosqlite:///{Path(folder) / 'profile.db'}", count)
    note = (
        f"Models: {', '.join(f'{m} {lat:g} s' for m, lat in MODELS.items())}; each streams "
        f"{CHUNKS} deltas {CHUNK_DELAY * 1000:g} ms apart within its latency. The fake server runs in its "
        "own process. Ratios are wall time from the first `ask()` call to the last AnswerReady "
        "(published after the answer's commit) and to the last BatchRanked, over the slowest "
        "model's 2.0 s; p50/p95 across runs. 'Per question' is each question's own ask → BatchRanked."
    )
    return note + "\n\n" + table(headers, rows)


async def _row(name: str, url: str, database_url: str, n: int, limit: int, repeats: int) -> list[object]:
    try:
        ready, ranked, _per_ready, per_ranked = await scenario(url, database_url, limit, n, repeats)
    except RuntimeError as exc:
        print(f"    {n} question(s), limit {limit}: FAILED: {exc}")
        return [name, n, limit, repeats, "-", "-", "-", f"≤ {TARGET_ONE if n == 1 else TARGET_MANY}", f"FAILED: {exc}"]
    target = TARGET_ONE if n == 1 else TARGET_MANY
    verdict = "ok" if p50(ranked) / SLOWEST <= target else "MISS"
    return [
        name,
        n,
        limit,
        repeats,
        f"{ratio(p50(ready))} / {ratio(p95(ready))}",
        f"{ratio(p50(ranked))} / {ratio(p95(ranked))}",
        f"{ratio(p50(per_ranked))} / {ratio(p95(per_ranked))}",
        f"≤ {target}",
        verdict,
    ]


async def profile_many(url: str, database_url: str, count: int) -> None:
    from pyinstrument import Profiler

    core = await make_core(url, database_url, 256)
    try:
        await ask_many(core, 1)
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        await ask_many(core, count)
        profiler.stop()
    finally:
        await core.aclose()
    print(profiler.output_text(unicode=False, color=False, show_all=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--questions", type=int, default=200, help="concurrent questions (default 200)")
    ap.add_argument("--profile", action="store_true", help="also profile one concurrent run with pyinstrument")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    repeats_one, repeats_many = (3, 1) if args.quick else (5, 2)
    body = asyncio.run(run(args.questions, repeats_one, repeats_many, args.profile))
    print("\n" + body)
    if not args.no_write:
        write_section("Fan-out: time to the slowest model", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

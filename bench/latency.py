"""Latency through the platforms with real round trips (issue 19).

    python -m bench.latency [--quick] [--no-write] [--platform slack|discord] [--models 1|3] [--no-burst]

One model streaming a 200-word answer over 1.0 s, then three such models; one question at a time,
then 20 at once, three times (once with --quick); the fake Slack Web API and the fake Discord REST
server answer every call at once (0 ms) and then after 150 ms, as the real platforms take ~100-300
ms. For each row: last card final ÷ the model's 1.0 s (the median, and the p95 that matters at 20 at
once, of the three bursts' 60 questions: one burst's p95 moves by about ±0.1), and the time from the
command to the model request reaching the fake model. `CONSENSUS_CONCURRENCY` keeps its default,
so a burst that queues behind the provider limit shows here. At 20 at once each question comes from
a channel (and on Slack a workspace) of its own: in one channel, the platform's own limits for it
(Slack ~1 post/s, Discord ~5 messages or threads per 5 s) set the pace.

Times are taken where the fakes receive a request (the fake model runs in the bench process, so its
arrivals are comparable): a card is final when the last post or edit of its cards arrives, so the
floor is about one round trip after the model ends (the ranked state follows the answer's own).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from bench.common import p50, p95, table, write_section
from bench.drivers import Asked, CountingSlack, DiscordDriver, SlackDriver, settle
from bench.harness import endpoint
from bench.platforms import discord_bot, slack_bot
from tests.fakes.llm_server import FakeLLMServer, Ok

MODEL_SECONDS = 1.0
LATENCIES = (0.0, 0.150)  # seconds added to every platform call
MODELS = ("openai/gpt-bench", "anthropic/claude-bench", "ollama/llama-bench")
PLATFORMS = ("slack", "discord")
COUNTS = (1, 3)  # models per question
BURST = 20
ROUNDS = 3  # bursts per row (1 with --quick)
CHUNKS = 40  # the answer arrives in 40 deltas, the first at 25 ms and the last at 1.0 s
_SENTENCE = "Check the lock waits first, then compare the slow plan with a fast night's plan and refresh statistics"
ANSWER = (
    " ".join([_SENTENCE + "."] * 10)  # with the last two lines: 200 words
    + "\n\nTL;DR: Look for lock waits, then compare plans.\nWHY: Lock waits and stale statistics cause most slowdowns."
)
_ASKED = re.compile(rb"\(#(\d+)\)")  # the drivers number their questions: "... (#12)"

HEADERS = [
    "platform",
    "models",
    "per platform call",
    "load",
    "questions",
    "last card final ÷ model p50 / p95",
    "command → model request p50 / p95 ms",
    "not final in time",
]


@asynccontextmanager
async def model_server(models: Sequence[str], answers: int) -> AsyncIterator[FakeLLMServer]:
    """The fake model server, in this process so that its arrival times compare with the drivers'."""
    server = FakeLLMServer()
    delay = MODEL_SECONDS / CHUNKS
    for model_id in models:
        model = model_id.split("/", 1)[1]
        server.answers[model] = ANSWER
        step = Ok(delay=delay, chunks=CHUNKS, chunk_delay=(MODEL_SECONDS - delay) / (CHUNKS - 1))
        server.script(endpoint(model_id), [step] * answers, model=model)
    async with server:
        yield server


def model_requests(server: FakeLLMServer) -> dict[int, float]:
    """Question number -> when its first model request arrived."""
    first: dict[int, float] = {}
    for call in server.calls:
        found = _ASKED.search(call.body)
        if found:
            n = int(found.group(1))
            first[n] = min(first.get(n, call.t), call.t)
    return first


def row(
    platform: str,
    models: int,
    latency: float,
    load: str,
    asked: list[Asked],
    number: dict[int, int],
    server: FakeLLMServer,
) -> list[object]:
    """`number`: the index of each question in `asked` -> the driver's question number."""
    lost = sum(1 for a in asked if not a.done)
    ratios = [(a.last - a.sent) / MODEL_SECONDS for a in asked if a.done and a.last is not None]
    arrivals = model_requests(server)
    starts = [arrivals[number[i]] - a.sent for i, a in enumerate(asked) if number[i] in arrivals]
    ratio = f"{p50(ratios):.3f} / {p95(ratios):.3f}" if ratios else "-"
    start = f"{p50(starts) * 1000:.0f} / {p95(starts) * 1000:.0f}" if starts else "-"
    return [platform, models, f"{latency * 1000:.0f} ms", load, len(asked), ratio, start, lost]


async def measure(
    platform: str,
    driver: SlackDriver | DiscordDriver,
    server: FakeLLMServer,
    models: int,
    one: int,
    rounds: int,
) -> list[list[object]]:
    """Rows at each platform latency: `one` questions one at a time (after a warm-up), then `rounds`
    bursts of BURST at once (none when `rounds` is 0)."""
    rows: list[list[object]] = []
    for latency in LATENCIES:
        driver.fake.call_latency = latency
        await _one(driver)  # warm-up: connections opened at this latency
        start = len(driver.asked)
        asked = [await _one(driver) for _ in range(one)]
        rows.append(row(platform, models, latency, "1 at a time", asked, _numbers(start, one), server))
        if not rounds:
            print(table(HEADERS, rows[-1:]), flush=True)
            continue
        asked, number = [], {}
        for _ in range(rounds):
            start = len(driver.asked)
            if isinstance(driver, SlackDriver):
                burst = await driver.burst(BURST)
            else:  # each from a channel of its own, as on Slack: one channel's buckets would set the pace
                burst = list(await asyncio.gather(*(driver.ask(room) for room in driver.rooms[:BURST])))
            await settle(driver, burst, 60)
            number.update({len(asked) + i: n for i, n in _numbers(start, BURST).items()})
            asked += burst
        load = f"{BURST} at once" + (f", {rounds} times" if rounds > 1 else "")
        rows.append(row(platform, models, latency, load, asked, number, server))
        print(table(HEADERS, rows[-2:]), flush=True)
    return rows


async def _one(driver: SlackDriver | DiscordDriver) -> Asked:
    asked = await driver.ask()
    await settle(driver, [asked], 30, quiet=0.3)
    return asked


def _numbers(start: int, count: int) -> dict[int, int]:
    return {i: start + i + 1 for i in range(count)}


async def run(
    quick: bool, platforms: Sequence[str] = PLATFORMS, counts: Sequence[int] = COUNTS, burst: bool = True
) -> str:
    one = 3 if quick else 6
    rounds = 0 if not burst else 1 if quick else ROUNDS
    answers = (one + 1 + BURST * rounds) * len(LATENCIES) + 10
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="consensus-latency-") as tmp:
        for count in counts:
            models = MODELS[:count]
            timings = dict.fromkeys(models, MODEL_SECONDS)
            if "slack" in platforms:
                folder = Path(tmp) / f"slack-{count}"
                folder.mkdir()
                print(f"  Slack, {count} model(s) ...", flush=True)
                async with model_server(models, answers) as server, CountingSlack() as fake:
                    async with slack_bot(server.url, folder, timings, fake) as (driver, _):
                        rows += await measure("Slack HTTP", driver, server, count, one, rounds)
            if "discord" in platforms:
                folder = Path(tmp) / f"discord-{count}"
                folder.mkdir()
                print(f"  Discord, {count} model(s) ...", flush=True)
                async with (
                    model_server(models, answers) as server,
                    discord_bot(server.url, folder, timings, rooms=BURST) as driver,
                ):
                    rows += await measure("Discord", driver, server, count, one, rounds)
    intro = (
        f"One or three models, each streaming a {len(ANSWER.split())}-word answer over {MODEL_SECONDS:g} s "
        f"({CHUNKS} deltas); {one} questions one at a time (after a warm-up), then {BURST} at once, each from "
        f"a channel of its own, {rounds} time(s) (the p50 and p95 are of all {BURST * rounds}); every call "
        "to the fake Slack Web API or Discord REST server answered at once, then after 150 ms. "
        "`consensus serve` in its own process with the default CONSENSUS_CONCURRENCY. Final = the last post "
        "or edit of the question's messages reaching the fake; the model request = its first arrival at "
        "the fake model."
    )
    return "\n".join(
        [
            intro,
            "",
            table(HEADERS, rows),
            "",
            "Targets at 150 ms: ratio ≤ 1.20 with 3 models one at a time; ≤ 1.5 p95 at 20 at once; "
            "model request ≤ 30 ms after the command.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer questions one at a time")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    ap.add_argument("--platform", choices=PLATFORMS, help="one platform only (prints, writes nothing)")
    ap.add_argument("--models", type=int, choices=COUNTS, help="one model count only (prints, writes nothing)")
    ap.add_argument("--no-burst", action="store_true", help=f"skip {BURST} at once (prints, writes nothing)")
    args = ap.parse_args(argv)
    platforms = [args.platform] if args.platform else PLATFORMS
    counts = [args.models] if args.models else COUNTS
    body = asyncio.run(run(args.quick, platforms, counts, burst=not args.no_burst))
    print("\n" + body)
    partial = args.platform or args.models or args.no_burst
    if not (args.no_write or partial):
        write_section("Latency with platform round trips", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

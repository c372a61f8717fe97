"""Platform benchmark (issue 8): `consensus serve` as a real process, driven like Slack and Discord.

    python -m bench.platforms [--quick] [--only slack discord tiers sustained] [--no-write]

- slack / discord: one question at a time, then 200 at once (5 models at 0.2-2.0 s): ack latency,
  time to the first card, and fan-out ratio (command -> last card final, / the slowest model).
- tiers: 5 questions at once in one Slack workspace while the fake enforces Slack's tiers: Web API
  calls per question, 429s, and whether anything was lost.
- sustained: 3 models at 1 s (Slack, HTTP). A ladder of steady rates, a short run each, climbing
  while the fan-out ratio p95 stays ≤ 1.2 with nothing lost; then 60 s at the highest rate that
  held, then 500 at once: ratio, lost questions, CPU per question, peak RSS and RSS per question in flight.
Slack questions come from distinct teams (workspaces) and channels, so that Slack's own limits
per workspace and channel (the `tiers` part) do not hide the bot's overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from bench.common import PostgresUnavailable, p50, p95, percentile, scratch_postgres, table, write_section
from bench.drivers import SECRET, Asked, CountingSlack, DiscordDriver, SlackDriver, settle
from bench.harness import Memory, llm_process, model_env, serve
from core.store.store import Store
from tests.bot.processes import free_port
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord

FIVE = {
    "openai/gpt-bench": 0.2,
    "anthropic/claude-bench": 0.5,
    "ollama/llama-bench": 1.0,
    "vllm/qwen-bench": 1.5,
    "groq/mixtral-bench": 2.0,
}
THREE = {"openai/gpt-bench": 1.0, "anthropic/claude-bench": 1.0, "ollama/llama-bench": 1.0}
TARGET_RATIO = 1.2  # the sustained rate's bar: all three answers final within 1.2 x the models' 1 s
LADDER = [5.0, 10.0, 20.0, 30.0, 40.0, 50.0]
TIERS = {"chat.update": 50, "chat.postMessage": 100, "users.info": 100, "chat.postEphemeral": 100}


def fmt(values: list[float], scale: float = 1000.0, digits: int = 1) -> str:
    if not values:
        return "-"
    return f"{p50(values) * scale:.{digits}f} / {p95(values) * scale:.{digits}f}"


def summarise(label: str, asked: list[Asked], slowest: float, lost: int) -> list[object]:
    done = [a for a in asked if a.done and a.ack is not None]
    acks = [a.ack - a.sent for a in done if a.ack is not None]
    firsts = [a.first - a.sent for a in done if a.first is not None]
    ratios = [(a.last - a.sent) / slowest for a in done if a.last is not None]
    p99 = f"{percentile(acks, 99) * 1000:.1f}" if acks else "-"
    calls = Counter[str]()
    for a in done:
        calls.update(a.calls)
    per = sum(calls.values()) / max(1, len(done))
    return [label, len(asked), fmt(acks), p99, fmt(firsts), fmt(ratios, 1.0, 3), f"{per:.1f}", lost]


HEADERS = [
    "platform, load",
    "questions",
    "ack p50 / p95 ms",
    "ack p99 ms",
    "first card p50 / p95 ms",
    "last card final ÷ slowest p50 / p95",
    "API calls / question",
    "not final in time",
]


async def sequential(driver: SlackDriver | DiscordDriver, count: int, limit: float) -> tuple[list[Asked], int]:
    asked, lost = [], 0
    for _ in range(count):
        one = await driver.ask()
        lost += await settle(driver, [one], limit, quiet=0.3)
        asked.append(one)
    return asked, lost


async def burst(driver: SlackDriver | DiscordDriver, count: int, limit: float) -> tuple[list[Asked], int]:
    if isinstance(driver, SlackDriver):
        asked = await driver.burst(count)
    else:  # one gateway connection carries them all: pushing 200 events is cheap
        asked = list(await asyncio.gather(*(driver.ask() for _ in range(count))))
    return asked, await settle(driver, asked, limit)


def connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(limit=0)  # 200 commands at once really are at once


@asynccontextmanager
async def slack_bot(
    llm: str, folder: Path, models: dict[str, float], fake: CountingSlack, **env: str
) -> AsyncIterator[tuple[SlackDriver, Memory]]:
    """`consensus serve` for Slack over HTTP against `fake` (with `env` on top), and a driver for it."""
    port = free_port()
    async with aiohttp.ClientSession(connector=connector()) as session:
        env = {
            **model_env(llm, models),
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            **env,
        }
        async with serve(folder, env, port) as memory:
            yield SlackDriver(fake, f"http://127.0.0.1:{port}/slack/events", session, len(models)), memory


async def run_slack(llm: str, folder: Path, one: int, many: int) -> list[list[object]]:
    async with CountingSlack() as fake, slack_bot(llm, folder, FIVE, fake, CONSENSUS_CONCURRENCY="1024") as (driver, _):
        return await one_then_many(driver, "Slack HTTP", one, many)


async def one_then_many(driver: SlackDriver | DiscordDriver, platform: str, one: int, many: int) -> list[list[object]]:
    """After a warm-up question: `one` question at a time, then `many` at once; a row for each."""
    await sequential(driver, 1, 30)
    asked, lost = await sequential(driver, one, 30)
    rows = [summarise(f"{platform}, 1 at a time", asked, max(FIVE.values()), lost)]
    asked, lost = await burst(driver, many, 120)
    rows.append(summarise(f"{platform}, {many} at once", asked, max(FIVE.values()), lost))
    return rows


async def run_slack_postgres(llm: str, folder: Path, many: int) -> list[list[object]]:
    """The burst again with PostgreSQL as the store (its writers do not queue behind one lock), after a
    smaller burst that has opened the connection pool."""
    try:
        async with scratch_postgres("consensus_platforms") as url:
            store = Store(url)
            try:
                await store.migrate()
            finally:
                await store.aclose()
            async with (
                CountingSlack() as fake,
                slack_bot(llm, folder, FIVE, fake, CONSENSUS_CONCURRENCY="1024", DATABASE_URL=url) as (driver, _),
            ):
                await burst(driver, 30, 60)  # warm-up that also opens the connection pool, as a busy day has
                asked, lost = await burst(driver, many, 120)
    except PostgresUnavailable as exc:
        print(f"  skipped: {exc}", flush=True)
        return []
    return [summarise(f"Slack HTTP, {many} at once, PostgreSQL", asked, max(FIVE.values()), lost)]


@asynccontextmanager
async def discord_bot(
    llm: str, folder: Path, models: dict[str, float], rooms: int = 0, **env: str
) -> AsyncIterator[DiscordDriver]:
    """`consensus serve` for Discord against a fake Discord (with `env` on top), once its gateway
    session is ready, and a driver for it; `rooms`: text channels besides the world's own."""
    port = free_port()
    world = p.World()
    fake = FakeDiscord()
    guild = world.guild()
    guild["channels"] += [p.text_channel(world.guild_id, name=f"room-{n}") for n in range(rooms)]
    fake.add_guild(guild)
    async with fake:
        env = {
            **model_env(llm, models),
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": f"{fake.url}/api/v10",
            "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{fake.port}/gateway",
            "DISCORD_GUILD_IDS": world.guild_id,
            **env,
        }
        async with serve(folder, env, port), aiohttp.ClientSession() as session:
            for _ in range(600):  # ready once the gateway session has every guild
                async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    if ready.status == 200:
                        break
                await asyncio.sleep(0.1)
            yield DiscordDriver(fake, world, len(models), guild["channels"][1:])


async def run_discord(llm: str, folder: Path, one: int, many: int) -> list[list[object]]:
    async with discord_bot(llm, folder, FIVE, CONSENSUS_CONCURRENCY="1024") as driver:
        return await one_then_many(driver, "Discord", one, many)


async def run_tiers(llm: str, folder: Path, count: int) -> str:
    async with CountingSlack(tiers=TIERS) as fake, slack_bot(llm, folder, FIVE, fake) as (driver, _):
        start = time.monotonic()
        asked = list(await asyncio.gather(*(driver.ask(team="TONE") for _ in range(count))))
        lost = await settle(driver, asked, 240, quiet=3.0)
        took = max((a.last or start) for a in asked) - start
    calls = Counter[str]()
    for a in asked:
        calls.update(a.calls)
    per = ", ".join(f"{name} {n / count:.1f}" for name, n in calls.most_common())
    return (
        f"{count} questions at once in one workspace, 5 models, tiers enforced per 60 s: "
        f"{', '.join(f'{m} {n}' for m, n in TIERS.items())}.\n\n"
        + table(
            ["Web API calls per question", "429s met", "not final in time", "all cards final after"],
            [[per, fake.limited, lost, f"{took:.1f} s"]],
        )
    )


async def run_sustained(
    llm: str, folder: Path, rates: list[float], rung: float, seconds: float, peak: int
) -> list[list[object]]:
    """The ladder (`rung` s per rate, climbing while a rate holds), `seconds` at the best rate, then `peak`."""
    rows: list[list[object]] = []
    async with (
        CountingSlack() as fake,
        slack_bot(llm, folder, THREE, fake, CONSENSUS_CONCURRENCY="2048") as (driver, memory),
    ):
        await sequential(driver, 1, 30)
        idle_kb = memory.rss_kb()
        best = 0.0
        for rate in rates:
            row, held = await _steady(driver, memory, rate, rung, idle_kb, limit=15)
            rows.append(row)
            if not held:
                break
            best = rate
        if best:
            rows.append((await _steady(driver, memory, best, seconds, idle_kb, limit=60))[0])
        rows.append(await _peak(driver, memory, peak, idle_kb))
    return rows


async def _watch(
    driver: SlackDriver, memory: Memory, pending: set[int], asked: list[Asked], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        for i in [i for i in pending if i < len(asked) and asked[i].key and driver.finished(asked[i])]:
            pending.discard(i)
        memory.sample(len(pending))
        await asyncio.sleep(0.5)


def _memory_cells(memory: Memory, idle_kb: int, since: float) -> list[object]:
    samples = [s for s in memory.samples if s[0] >= since]
    peak_kb = max((s[1] for s in samples), default=0)
    flight = max((s[2] for s in samples), default=0)
    per = (peak_kb - idle_kb) / flight if flight else 0.0
    return [f"{peak_kb / 1024:.0f}", flight, f"{per:.0f}"]


async def _steady(
    driver: SlackDriver, memory: Memory, rate: float, seconds: float, idle_kb: int, *, limit: float
) -> tuple[list[object], bool]:
    """`rate` questions a second for `seconds`; the row, and whether the rate held (ratio p95 ≤ 1.2, none lost).
    A rate that does not hold leaves a backlog: it is waited out (up to 60 s) so that the next run starts clean."""
    asked: list[Asked] = []
    pending: set[int] = set()
    stop = asyncio.Event()
    since, cpu = time.monotonic(), memory.cpu_seconds()
    watcher = asyncio.create_task(_watch(driver, memory, pending, asked, stop))
    tasks = []
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, since + i / rate - time.monotonic()))
        pending.add(len(asked))
        asked.append(Asked("", 0.0))  # placeholder, replaced when the command is sent
        tasks.append(asyncio.create_task(_send(driver, asked, len(asked) - 1)))
    await asyncio.gather(*tasks)
    lost = await settle(driver, asked, limit)
    stop.set()
    await watcher
    cpu = memory.cpu_seconds() - cpu
    if lost:
        await settle(driver, asked, 60)
    row = summarise(f"{rate:g} q/s for {seconds:g} s", asked, 1.0, lost)
    ratios = [a.last - a.sent for a in asked if a.done and a.last is not None]
    held = not lost and bool(ratios) and p95(ratios) <= TARGET_RATIO
    return [
        row[0],
        row[1],
        row[5],
        lost,
        f"{cpu / max(1, len(asked)) * 1000:.0f}",
        *_memory_cells(memory, idle_kb, since),
    ], held


async def _send(driver: SlackDriver, asked: list[Asked], i: int) -> None:
    asked[i] = await driver.ask()


async def _peak(driver: SlackDriver, memory: Memory, count: int, idle_kb: int) -> list[object]:
    asked: list[Asked] = []
    pending = set(range(count))
    stop = asyncio.Event()
    since = time.monotonic()
    watcher = asyncio.create_task(_watch(driver, memory, pending, asked, stop))
    cpu = memory.cpu_seconds()
    asked.extend(await asyncio.gather(*(driver.ask() for _ in range(count))))
    lost = await settle(driver, asked, 180)
    stop.set()
    await watcher
    cpu = memory.cpu_seconds() - cpu
    row = summarise(f"{count} at once", asked, 1.0, lost)
    return [row[0], row[1], row[5], lost, f"{cpu / max(1, count) * 1000:.0f}", *_memory_cells(memory, idle_kb, since)]


async def run(parts: list[str], quick: bool) -> str:
    one, many = (3, 100) if quick else (5, 200)
    out = [
        "`consensus serve` in its own process (SQLite unless the row says PostgreSQL, LOG_LEVEL=WARNING, "
        "CONSENSUS_CONCURRENCY raised so "
        "that the provider limit is not what is measured); fake model server in another process; fake "
        "Slack/Discord and the driver in the bench process. Times are taken at the fakes (the platform's "
        "view): ack = the HTTP 200 (Slack) or the interaction callback (Discord); first card = the first "
        "message posted for the question; final = the last post or edit of its cards. Models: "
        + ", ".join(f"{m} {s:g} s" for m, s in FIVE.items())
        + " (streaming, as a platform wants progress)."
    ]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="consensus-bench-") as tmp:
        folder = Path(tmp)
        if {"slack", "discord", "tiers"} & set(parts):
            with llm_process(FIVE) as llm:
                for name, runner in (("slack", run_slack), ("discord", run_discord)):
                    if name in parts:
                        (folder / name).mkdir()
                        print(f"  {name} ...", flush=True)
                        rows += await runner(llm, folder / name, one, many)
                        print(table(HEADERS, rows[-2:]), flush=True)
                if "slack" in parts:
                    (folder / "slack-postgres").mkdir()
                    print("  slack on PostgreSQL ...", flush=True)
                    rows += await run_slack_postgres(llm, folder / "slack-postgres", many)
                if rows:
                    out += [
                        "\n### Ack, first card, fan-out through the platforms\n",
                        table(HEADERS, rows),
                        "\nTargets: ack p99 ≤ 50 ms; first card p95 ≤ 50 ms one at a time, ≤ 300 ms at 200; "
                        "ratio ≤ 1.05 one at a time, ≤ 1.2 at 200.",
                    ]
                if "tiers" in parts:
                    (folder / "tiers").mkdir()
                    print("  tiers ...", flush=True)
                    out += [
                        "\n### Slack tiers: calls per question and 429s\n",
                        await run_tiers(llm, folder / "tiers", 5),
                    ]
                    print(out[-1], flush=True)
        if "sustained" in parts:
            (folder / "sustained").mkdir()
            rung, seconds, peak = (5.0, 15.0, 200) if quick else (10.0, 60.0, 500)
            print("  sustained ...", flush=True)
            with llm_process(THREE) as llm:
                srows = await run_sustained(llm, folder / "sustained", LADDER, rung, seconds, peak)
            sheaders = [
                "load (Slack HTTP, 3 models at 1 s)",
                "questions",
                "ratio p50 / p95",
                "not final in time",
                "bot CPU ms / question",
                "peak RSS MB",
                "peak in flight",
                "RSS kB / question in flight",
            ]
            out += [
                "\n### Sustained load\n",
                f"A ladder of {rung:g} s runs climbing while the rate holds (ratio p95 ≤ {TARGET_RATIO} and "
                f"nothing lost), {seconds:g} s at the highest rate that held, then {peak} at once.\n",
                table(sheaders, srows),
                "\nTargets: ≥ 50 q/s with ratio ≤ 1.2 and nothing lost; ≤ 200 MB RSS at 500 in flight.",
            ]
            print(out[-2], flush=True)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer questions, shorter sustained runs")
    ap.add_argument("--only", nargs="+", choices=["slack", "discord", "tiers", "sustained"])
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    body = asyncio.run(run(args.only or ["slack", "discord", "tiers", "sustained"], args.quick))
    print("\n" + body)
    if not args.no_write:
        write_section("Platforms: ack, first card, fan-out, tiers, sustained load", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench.startup`: how soon each command is of use, as real processes, against bare Python.

- `consensus --version` and `--help` until they exit;
- `consensus ask` with fake models, in a pseudo-terminal, until its live rows appear;
- `consensus serve` (Slack over HTTP against the fake Slack) until `/readyz` answers 200.

Each is run once untimed (the database exists afterwards, as it does for anyone past their first
question), then timed `--repeats` times; the table gives min and median, wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import REPO, table, write_section
from bench.drivers import SECRET, CountingSlack
from bench.harness import llm_process, model_env
from tests.bot.processes import free_port

CONSENSUS = str(Path(sys.executable).with_name("consensus"))
MODELS = {"openai/gpt-fast": 0.3, "anthropic/claude-fast": 0.3, "ollama/llama-fast": 0.3}
TARGETS = {"--version": (0.3, 0.15), "--help": (0.3, 0.15), "ask": (0.8, None), "serve": (1.5, None)}


def clean_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONSENSUS_", "OPENAI_", "ANTHROPIC_", "SLACK_", "DISCORD_", "DATABASE_"))
    }
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder}/consensus.db",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


def until_exit(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def until_rows(env: dict[str, str], marker: bytes) -> float:
    """`consensus ask` on a pseudo-terminal (so the live view draws): seconds until `marker` shows."""
    ours, theirs = pty.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [CONSENSUS, "ask", "Why is the build slow?"],
        env={**env, "TERM": "xterm"},
        stdin=theirs,
        stdout=theirs,
        stderr=theirs,
        close_fds=True,
    )
    os.close(theirs)
    seen, shown = b"", None
    try:
        while proc.poll() is None or select.select([ours], [], [], 0)[0]:
            if select.select([ours], [], [], 0.01)[0]:
                try:
                    seen += os.read(ours, 65536)
                except OSError:  # the process closed its end
                    break
                if shown is None and marker in seen:
                    shown = time.perf_counter() - start
    finally:
        proc.wait(60)
        os.close(ours)
    if shown is None or proc.returncode != 0:
        raise RuntimeError(f"ask exited {proc.returncode} without its rows: {seen[-500:]!r}")
    return shown


async def until_ready(env: dict[str, str], folder: Path) -> float:
    port = free_port()
    log = (folder / "serve.log").open("ab")
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        CONSENSUS, "serve", env={**env, "PORT": str(port)}, stdout=log, stderr=log
    )
    try:
        async with aiohttp.ClientSession() as session:
            while proc.returncode is None:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return time.perf_counter() - start
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.01)
        raise RuntimeError(f"serve exited {proc.returncode}; see {folder / 'serve.log'}")
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()


def row(name: str, times: list[float], bare: float) -> list[object]:
    best, median = min(times), statistics.median(times)
    wall, over = TARGETS.get(name, (None, None))
    verdict = "ok" if (wall is None or median <= wall) and (over is None or median - bare <= over) else "MISSED"
    goal = " and ".join(g for g in (f"≤ {wall:g} s" if wall else "", f"≤ {over:g} s over bare" if over else "") if g)
    return [name, f"{best:.3f}", f"{median:.3f}", f"{median - bare:+.3f}", goal or "—", verdict]


async def measure(repeats: int) -> str:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as scratch, llm_process(MODELS) as llm:
        folder = Path(scratch)
        env = clean_env(folder, **model_env(llm, MODELS))
        bare_times = [until_exit([sys.executable, "-c", "pass"], env) for _ in range(repeats)]
        bare = statistics.median(bare_times)
        rows.append(["python -c pass", f"{min(bare_times):.3f}", f"{bare:.3f}", "—", "—", "—"])
        for flag in ("--version", "--help"):
            until_exit([CONSENSUS, flag], env)
            rows.append(row(flag, [until_exit([CONSENSUS, flag], env) for _ in range(repeats)], bare))
        until_rows(env, b"gpt-fast")
        rows.append(row("ask", [until_rows(env, b"gpt-fast") for _ in range(repeats)], bare))
        async with CountingSlack() as fake:
            slack = {
                **env,
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": fake.api_url,
                "HOST": "127.0.0.1",
                "LOG_LEVEL": "WARNING",
            }
            await until_ready(slack, folder)
            rows.append(row("serve", [await until_ready(slack, folder) for _ in range(repeats)], bare))
    headers = ["command", "min s", "median s", "over bare Python", "goal (median)", ""]
    return (
        f"{repeats} timed runs of each, after one untimed run, on an existing SQLite database; fake "
        "models answer in 0.3 s. `ask`: until its live rows show on a pseudo-terminal; `serve`: Slack over "
        "HTTP against the fake Slack, until `/readyz` answers 200.\n\n" + table(headers, rows)
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 runs of each instead of 10")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args(argv)
    body = asyncio.run(measure(3 if args.quick else 10))
    print(body)
    if not args.no_write:
        write_section("Start-up: the terminal and the server", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the platform benchmarks run against: the fake model server in a process of its own, and
`consensus serve` as a real process (as in production), watched for memory.

The fake Slack or Discord runs in the bench process with the driver; the bot is measured from
outside, through loopback, exactly as the platforms see it.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from bench.common import REPO
from tests.bot.processes import listening

CHUNKS, CHUNK_DELAY = 8, 0.02  # streamed in 8 deltas 20 ms apart, within each model's latency
ANSWER = (
    "Check pg_stat_activity for lock waits first, then compare the slow plan with a fast night's "
    "using auto_explain, and run ANALYZE after the bulk load so the planner sees the new row counts.\n\n"
    "TL;DR: Look for lock waits, then compare plans and refresh statistics.\n"
    "WHY: Lock waits and stale statistics cause most such slowdowns."
)


def endpoint(model_id: str) -> str:
    return "messages" if model_id.startswith("anthropic/") else "chat"


def _serve_llm(conn: Connection, models: dict[str, float], steps: int, answers: dict[str, str]) -> None:
    from tests.fakes.llm_server import FakeLLMServer, Ok

    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)

    async def main() -> None:
        server = FakeLLMServer()
        for model_id, latency in models.items():
            model = model_id.split("/", 1)[1]
            server.answers[model] = answers.get(model_id, ANSWER)
            step = Ok(delay=latency - (CHUNKS - 1) * CHUNK_DELAY, chunks=CHUNKS, chunk_delay=CHUNK_DELAY)
            server.script(endpoint(model_id), [step] * steps, model=model)
        await server.start()
        conn.send(server.url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await server.stop()

    asyncio.run(main())


@contextmanager
def llm_process(models: dict[str, float], steps: int = 50_000, answers: dict[str, str] | None = None) -> Iterator[str]:
    """The fake OpenAI/Anthropic server, answering each model after its latency (with `answers[model_id]`
    or a default answer); yields its URL."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve_llm, args=(theirs, models, steps, answers or {}), daemon=True)
    process.start()
    try:
        if not ours.poll(60):
            raise RuntimeError("the fake LLM server did not start")
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join()


def model_env(llm_url: str, models: dict[str, float]) -> dict[str, str]:
    env = {
        "CONSENSUS_MODELS": ",".join(models),
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": f"{llm_url}/v1",
        "ANTHROPIC_API_KEY": "sk-ant-bench",
        "ANTHROPIC_BASE_URL": llm_url,
    }
    for model_id in models:
        name = model_id.split("/")[0].upper()
        if name not in ("OPENAI", "ANTHROPIC"):
            env[f"{name}_BASE_URL"], env[f"{name}_API_KEY"] = f"{llm_url}/v1", "bench-key"
    return env


@dataclass
class Memory:
    """RSS samples of a process (kB), with how many questions were in flight at each."""

    pid: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, rss kB, in flight)

    def rss_kb(self) -> int:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def sample(self, in_flight: int) -> None:
        self.samples.append((time.monotonic(), self.rss_kb(), in_flight))

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0


@asynccontextmanager
async def serve(folder: Path, env: dict[str, str], port: int, *, ready: str = "port") -> AsyncIterator[Memory]:
    """`consensus serve` with `env` (on top of a clean environment), until SIGTERM."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONSENSUS_", "OPENAI_", "ANTHROPIC_", "SLACK_", "DISCORD_", "DATABASE_"))
    }
    base.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{folder}/consensus.db",
        CONSENSUS_RETRIES="0",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(REPO),
    )
    base.update(env)
    log = (folder / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=folder, env=base, stdout=log, stderr=log
    )
    try:
        for _ in range(1200):
            if proc.returncode is not None:
                raise RuntimeError(f"serve exited with {proc.returncode}: {(folder / 'serve.log').read_text()[-2000:]}")
            if listening(port):
                break
            await asyncio.sleep(0.05)
        yield Memory(proc.pid)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()

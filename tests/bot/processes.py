"""Running `consensus` as a real process in tests, pointed at the fakes."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from tests.fakes.llm_server import FakeLLMServer

MODELS = "openai/gpt-test,anthropic/claude-test,ollama/llama-test"


def cli_env(server: FakeLLMServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSENSUS_", "OPENAI_", "ANTHROPIC_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/consensus.db",
        CONSENSUS_MODELS=MODELS,
        OPENAI_API_KEY="sk-test-cli",
        OPENAI_BASE_URL=f"{server.url}/v1",
        ANTHROPIC_API_KEY="sk-ant-test-cli",
        ANTHROPIC_BASE_URL=server.url,
        OLLAMA_BASE_URL=f"{server.url}/v1",
        CONSENSUS_RETRIES="0",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


async def start(tmp_path: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def consensus(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await start(tmp_path, env, *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def ensure_stopped(*procs: asyncio.subprocess.Process) -> None:
    """Kill what a failed test left running (by its own pid), and reap it."""
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0

"""Stop in the terminal, as real processes against the fake model server: the first Ctrl-C during
`consensus ask` stops the model still writing and prints the ranked answers; `consensus stop` from
another terminal stops a question that runs elsewhere (that process finds the stop in the store), on
SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import getpass
import json
import signal
from pathlib import Path
from typing import Any

from tests.bot.processes import cli_env, consensus, ensure_stopped, start
from tests.fakes.llm_server import FakeLLMServer, Ok

SLOW = "gpt-test"
TEXT = "Arrived before the stop. " * 3 + "Never sent. " * 3


def slow_answer(result: dict[str, Any]) -> dict[str, Any]:
    return next(a for a in result["answers"] if a["model"] == SLOW)


async def test_the_first_ctrl_c_stops_the_model_still_writing_and_ranks_what_arrived(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    llm_server.script("chat", [Ok(TEXT, chunks=6, hold_after=3)], model=SLOW)
    proc = await start(tmp_path, cli_env(llm_server, tmp_path), "ask", "Explain everything", "--json")
    try:
        await llm_server.wait_until(lambda: SLOW in llm_server.held_streams, "the slow model held mid-answer", 60)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        await ensure_stopped(proc)
    assert proc.returncode == 0, err.decode()
    assert "Stopping the models still writing" in err.decode() and "Traceback" not in err.decode()
    assert SLOW in llm_server.closed_by_client
    result = json.loads(out)
    stopped = slow_answer(result)
    assert stopped["ended"] == "stopped" and stopped["stopped_by"] == getpass.getuser()
    assert "Never sent" not in (stopped["content"] or "")
    assert stopped["ended_note"].startswith(f"stopped by {getpass.getuser()}")
    assert all(a["score"] is not None for a in result["answers"] if a["status"] == "completed")  # ranked


async def test_consensus_stop_stops_a_question_running_in_another_process(
    llm_server: FakeLLMServer, tmp_path: Path, database_url: str
) -> None:
    llm_server.script("chat", [Ok(TEXT, chunks=6, hold_after=3)], model=SLOW)
    env = cli_env(llm_server, tmp_path, DATABASE_URL=database_url)
    if not database_url.startswith("sqlite"):  # PostgreSQL is migrated by its operator first
        code, _, err = await consensus(tmp_path, env, "db", "upgrade")
        assert code == 0, err
    asking = await start(tmp_path, env, "ask", "Explain everything", "--json")
    try:
        await llm_server.wait_until(lambda: SLOW in llm_server.held_streams, "the slow model held mid-answer", 60)
        code, out, err = await consensus(tmp_path, env, "stop", "1")
        assert code == 0, err
        assert "Stopped OpenAI" in out
        printed, asked_err = await asyncio.wait_for(asking.communicate(), 60)
    finally:
        await ensure_stopped(asking)
    assert asking.returncode == 0, asked_err.decode()
    assert SLOW in llm_server.closed_by_client  # the asking process cancelled its own call
    assert slow_answer(json.loads(printed))["ended"] == "stopped"

    code, out, err = await consensus(tmp_path, env, "stop", "1")
    assert code == 2 and "Nothing to stop" in err and "Traceback" not in err

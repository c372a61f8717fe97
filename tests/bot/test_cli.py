"""`consensus` against the fake model server: in this process, and as a real process where a killed
process is the point."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bot.inprocess import run_cli
from tests.bot.processes import cli_env, consensus, ensure_stopped, start
from tests.fakes.llm_server import FakeLLMServer, Hang, unauthorized


async def test_ask_json_prints_every_answer_ranked(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    llm_server.answers["gpt-test"] = "The answer is 42.\nTL;DR: It is 42.\nWHY: Arithmetic."
    code, out, err = await run_cli(cli_env(llm_server, tmp_path), "ask", "What is 6 x 7?", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) >= {"conversation_id", "message_id", "status", "consensus", "answers"}
    assert result["status"] == "COMPLETED"
    assert {a["provider"] for a in result["answers"]} == {"openai", "anthropic", "ollama"}
    gpt = next(a for a in result["answers"] if a["model"] == "gpt-test")
    assert gpt["summary"] == "It is 42." and gpt["content"] == "The answer is 42."
    assert all(
        set(a)
        >= {"id", "score", "score_method", "latency_ms", "tokens_in", "tokens_out", "cost_usd", "error", "reasoning"}
        for a in result["answers"]
    )
    scores = [a["score"] for a in result["answers"]]
    assert scores == sorted(scores, reverse=True)  # best first

    code, out, _ = await run_cli(cli_env(llm_server, tmp_path), "history", "--json")
    assert code == 0 and [c["title"] for c in json.loads(out)] == ["What is 6 x 7?"]
    code, out, _ = await run_cli(
        cli_env(llm_server, tmp_path),
        "ask",
        "And times two?",
        "--follow-up",
        str(result["conversation_id"]),
        "--json",
        "--model",
        "openai/gpt-test",
    )
    assert code == 0
    assert json.loads(out)["conversation_id"] == result["conversation_id"]
    assert "It is 42" not in str(llm_server.requests("chat", model="gpt-test")[-1]["messages"][-1])


async def test_ask_exits_1_when_no_model_answers(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    llm_server.script("chat", [unauthorized("openai")], model="gpt-test")
    env = cli_env(llm_server, tmp_path, CONSENSUS_MODELS="openai/gpt-test")
    code, out, err = await run_cli(env, "ask", "hello", "--json")
    assert code == 1, err
    answer = json.loads(out)["answers"][0]
    assert answer["status"] == "failed" and "key" in answer["error"].lower()
    assert "sk-test-cli" not in out + err


@pytest.mark.parametrize(
    ("extra", "args", "named"),
    [
        ({"CONSENSUS_MODELS": ""}, ("ask", "hi"), "CONSENSUS_MODELS"),
        ({"CONSENSUS_MODELS": "anthropic/claude-x", "ANTHROPIC_API_KEY": ""}, ("ask", "hi"), "ANTHROPIC_API_KEY"),
        ({}, ("ask", "x" * 8001), "8,000"),
        ({"CONSENSUS_TIMEOUT": "soon"}, ("ask", "hi"), "CONSENSUS_TIMEOUT"),
    ],
)
async def test_usage_and_configuration_errors_exit_2_and_name_the_problem(
    llm_server: FakeLLMServer, tmp_path: Path, extra: dict[str, str], args: tuple[str, ...], named: str
) -> None:
    code, _out, err = await run_cli(cli_env(llm_server, tmp_path, **extra), *args)
    assert code == 2
    assert named in err


INSTALLED = Path(os.path.abspath(sys.executable)).parent  # where `make install` puts `consensus`


def search_path(path: str, *, installed_first: bool) -> str:
    """PATH with this installation's folder first, or without it: what `serve` then prints differs."""
    folders = [f for f in path.split(":") if f and Path(f).resolve() != INSTALLED.resolve()]
    return ":".join([str(INSTALLED), *folders] if installed_first else folders)


@pytest.mark.parametrize("on_path", [False, True])
async def test_serve_without_a_platform_migrates_exits_2_and_prints_commands_that_work(
    llm_server: FakeLLMServer, tmp_path: Path, on_path: bool
) -> None:
    if on_path and not (INSTALLED / "consensus").exists():
        pytest.skip("`consensus` is not installed beside this interpreter")
    env = cli_env(llm_server, tmp_path)
    env["PATH"] = search_path(env.get("PATH", ""), installed_first=on_path)
    code, _out, err = await consensus(tmp_path, env, "serve")
    assert code == 2, err  # a configuration error: nothing to serve
    assert "no chat platform is configured" in err and "Traceback" not in err
    for variable in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "DISCORD_TOKEN"):
        assert variable in err
    with sqlite3.connect(tmp_path / "consensus.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() is not None

    found = re.search(r"Meanwhile `(.+)` works in this terminal", err)
    assert found is not None, err
    printed = found[1]
    assert printed.startswith("consensus ask ") == on_path, printed

    shell = await asyncio.create_subprocess_exec(  # the command exactly as printed, in the same place
        "sh",
        "-c",
        f"{printed} --json",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, shell_err = await asyncio.wait_for(shell.communicate(), 60)
    assert shell.returncode == 0, shell_err.decode()
    assert json.loads(out)["answers"], out


def stored(db_path: Path, query: str) -> list[Any]:
    with sqlite3.connect(db_path) as db:
        return db.execute(query).fetchall()


def completed_answers(db_path: Path) -> int:
    try:
        return len(stored(db_path, "SELECT id FROM ai_responses WHERE status = 'completed'"))
    except sqlite3.OperationalError:  # not migrated yet
        return 0


async def test_a_killed_ask_is_completed_by_the_next_start(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    llm_server.script("messages", [Hang(60)], model="claude-test")  # the first try never answers
    env = cli_env(llm_server, tmp_path, CONSENSUS_LEASE_SECONDS="1")
    db = tmp_path / "consensus.db"
    proc = await start(tmp_path, env, "ask", "Will this survive a crash?", "--json")
    try:
        for _ in range(1200):  # until both quick models are stored and the slow one is in flight
            if db.exists() and completed_answers(db) == 2:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the quick answers were never stored")
        await llm_server.wait_for("POST /v1/messages", 1, timeout=60)
    finally:
        proc.send_signal(signal.SIGKILL)
        await ensure_stopped(proc)
    assert stored(db, "SELECT status FROM request_batches") == [("RUNNING",)]

    await asyncio.sleep(1.2)  # the dead process's lease runs out
    code, _out, err = await consensus(tmp_path, env, "ask", "Next question", "--json")
    assert code == 0, err
    assert (
        "Finishing a question an interrupted run left unfinished: conversation 1, “Will this survive a crash?”."
    ) in err
    rows = stored(db, "SELECT batch_id, provider_id, status FROM ai_responses ORDER BY batch_id, id")
    assert [r for r in rows if r[0] == 1] == [
        (1, "openai/gpt-test", "completed"),
        (1, "anthropic/claude-test", "completed"),
        (1, "ollama/llama-test", "completed"),
    ]
    assert stored(db, "SELECT status FROM request_batches ORDER BY id") == [("COMPLETED",), ("COMPLETED",)]
    # Each model answered the first question once; only the hung call was made again.
    first = [r for r in llm_server.calls if "Will this survive" in r.body.decode()]
    assert sorted(c.path for c in first) == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/messages",
    ]

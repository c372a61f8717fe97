"""`consensus ask` in a terminal, in-process: the question from standard input or after `--`, the
reviewer's failure said in words, warnings printed above the live rows, "1 try"."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path

import pytest
from rich.console import Console

from adapters.terminal.render import LiveProgress, card, print_batch
from bot.cli_base import TERMINAL
from bot.observability import setup_logging
from core.domain import Answer, AnswerStatus, Batch, BatchStatus
from tests.adapters import scripted_whys
from tests.bot.inprocess import run_cli
from tests.bot.processes import cli_env
from tests.fakes.llm_server import FakeLLMServer


def answer(answer_id: int, status: AnswerStatus = AnswerStatus.COMPLETED, **fields: object) -> Answer:
    return Answer(answer_id, 1, 1, f"openai/gpt-{answer_id}", "OpenAI", status, **fields)  # type: ignore[arg-type]


def batch(*answers: Answer) -> Batch:
    return Batch(1, 1, 1, TERMINAL, "terminal", None, "me", "q?", BatchStatus.PARTIAL, answers)


def rendered(*renderables: object) -> str:
    console = Console(file=io.StringIO(), width=100, record=True)
    for item in renderables:
        console.print(item)
    return console.export_text()


async def ask(llm_server: FakeLLMServer, tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = cli_env(llm_server, tmp_path, CONSENSUS_MODELS="openai/gpt-test")
    return await run_cli(env, "ask", "--json", *args, stdin=stdin)


def asked(llm_server: FakeLLMServer) -> list[str]:
    return [body["messages"][-1]["content"] for body in llm_server.requests("chat")]


async def test_the_question_comes_from_standard_input(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    code, out, err = await ask(llm_server, tmp_path, "-", stdin="What is a mutex?\nAnd a semaphore?\n")
    assert code == 0, err
    assert json.loads(out)["answers"][0]["status"] == "completed"
    assert any(text.endswith("What is a mutex?\nAnd a semaphore?") for text in asked(llm_server))


async def test_empty_standard_input_is_a_usage_error(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    code, _out, err = await ask(llm_server, tmp_path, "-", stdin="  \n")
    assert code == 2
    assert "the question from standard input is empty" in err
    assert llm_server.calls == []


async def test_a_question_that_begins_with_a_dash_follows_double_dash(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    code, _out, err = await ask(llm_server, tmp_path, "--", "-v or --verbose: which is clearer?")
    assert code == 0, err
    assert any(text.endswith("-v or --verbose: which is clearer?") for text in asked(llm_server))


def test_a_failed_judge_is_said_in_words() -> None:
    method = "consensus (judge failed: OpenAI did not answer within 30 s)"
    console = Console(file=io.StringIO(), width=120, record=True)
    print_batch(
        console,
        batch(
            answer(1, summary="A", score=8.0, rank=1, score_method=method),
            answer(2, summary="B", score=6.0, rank=2, score_method=method),
        ),
        full=False,
    )
    assert (
        "The reviewer failed (OpenAI did not answer within 30 s); the answers are ranked by how much they agree."
    ) in console.export_text()
    quiet = Console(file=io.StringIO(), width=120, record=True)
    print_batch(quiet, batch(answer(1, summary="A", score=8.0, rank=1, score_method="judge")), full=False)
    assert "reviewer" not in quiet.export_text()


def test_one_attempt_is_one_try() -> None:
    assert "1 try" in rendered(card(answer(1, AnswerStatus.FAILED, error="boom", attempts=1), full=False))
    assert "3 tries" in rendered(card(answer(1, AnswerStatus.FAILED, error="boom", attempts=3), full=False))


def test_warnings_print_above_the_live_rows_not_across_them(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])  # pytest's own come back afterwards
    setup_logging("WARNING")
    console = Console(file=terminal, force_terminal=True, width=100)
    progress = LiveProgress(batch(answer(1, AnswerStatus.PENDING)), console)
    with progress.live:
        logging.getLogger("core.resilience").warning("OpenAI is rate limited; trying again in 2 s")
    assert "trying again in 2 s" in terminal.getvalue()  # printed by the live view, above its rows
    assert stderr.getvalue() == ""  # not written straight to the terminal, across the rows


async def test_each_card_shows_the_models_own_why_and_apart_what_decided_its_rank(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    scripted_whys.script(llm_server)
    env = cli_env(llm_server, tmp_path, COLUMNS="200")
    code, out, err = await run_cli(env, "ask", scripted_whys.QUESTION)
    assert code == 0, err
    assert scripted_whys.CONSENSUS in out
    for why in scripted_whys.WHYS.values():
        assert f"Why: {why}" in out
    assert "#1 · 2 of 3 agree on 42" in out and "#3 · answers 44; 2 of 3 agree on 42" in out
    assert out.count("#1") == 1  # not again in the panel's subtitle

    code, out, err = await run_cli(env, "ask", "--json", scripted_whys.QUESTION)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["consensus"] == scripted_whys.CONSENSUS
    for answer in shown["answers"]:
        assert answer["reasoning"] == scripted_whys.WHYS[answer["model"]]
        expected = scripted_whys.DISSENT if answer["model"] == "llama-test" else scripted_whys.AGREE
        assert expected in answer["rank_reason"] and answer["rank_reason"] != answer["reasoning"]


async def test_with_a_reviewer_its_consensus_sentence_is_the_line_with_the_models_named(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    scripted_whys.script(llm_server)
    llm_server.answers["judge-test"] = scripted_whys.judge_reply
    env = cli_env(llm_server, tmp_path, CONSENSUS_REVIEWER="openai/judge-test", COLUMNS="200")
    code, out, err = await run_cli(env, "ask", "--json", scripted_whys.QUESTION)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["consensus"] in scripted_whys.REVIEWED
    reasons = {a["model"]: a["rank_reason"] for a in shown["answers"]}
    assert reasons == {"gpt-test": "OpenAI adds.", "claude-test": "Anthropic adds.", "llama-test": "Ollama guesses."}
    assert all(a["score_method"] == "judge" for a in shown["answers"])
    assert {a["model"]: a["reasoning"] for a in shown["answers"]} == scripted_whys.WHYS  # the models' own

"""`consensus show ID`, run in this process against a database the real core filled: every question in
order, every answer with what people did with it, and a clear exit 2 for an id that is not here."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli_base import TERMINAL
from core.domain import Actor, Platform, Question, WorkspaceRef
from tests.bot.inprocess import run_cli
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, server_error

FIRST, SECOND = "What is the capital of France?", "And its population?"


@dataclass(frozen=True)
class Stored:
    conversation_id: int
    other_workspace_conversation_id: int
    selected_id: int
    deleted_id: int
    failed_id: int


@pytest.fixture
async def stored(make_core: MakeCore, llm_server: FakeLLMServer) -> Stored:
    """alice asks; she selects Anthropic's answer and deletes OpenAI's; bob follows up, and Ollama fails."""
    llm_server.answers.update(
        {
            "gpt-test": "Paris.\nTL;DR: Paris, says OpenAI.\nWHY: Geography.",
            "claude-test": "Paris.\nTL;DR: Paris, says Anthropic.\nWHY: It is the capital.",
        }
    )
    service = (await make_core()).service
    first = await service.ask(Question(TERMINAL, "terminal", "alice", FIRST))
    first = await service.wait_for_batch(first.id, TERMINAL)
    by_model = {a.provider_id: a for a in first.answers}
    alice = Actor(TERMINAL, "alice")
    await service.select(by_model["anthropic/claude-test"].id, alice)
    await service.delete(by_model["openai/gpt-test"].id, alice)
    llm_server.script("chat", [server_error("ollama")] * 3, model="llama-test")
    second = await service.follow_up(first.conversation_id, Question(TERMINAL, "terminal", "bob", SECOND))
    second = await service.wait_for_batch(second.id, TERMINAL)
    elsewhere = await service.ask(Question(WorkspaceRef(Platform.SLACK, "T1"), "C1", "U1", "Slack's own question"))
    await service.wait_for_batch(elsewhere.id, WorkspaceRef(Platform.SLACK, "T1"))
    return Stored(
        first.conversation_id,
        elsewhere.conversation_id,
        by_model["anthropic/claude-test"].id,
        by_model["openai/gpt-test"].id,
        next(a.id for a in second.answers if a.provider_id == "ollama/llama-test"),
    )


async def show(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return await run_cli(
        {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/consensus.db", "COLUMNS": "120"}, "show", *args
    )


async def test_text_shows_every_question_in_order_with_the_marks(stored: Stored, tmp_path: Path) -> None:
    code, out, err = await show(tmp_path, str(stored.conversation_id))
    assert code == 0, err
    first, second = out.index("Question 1 of 2 · alice"), out.index("Question 2 of 2 · bob")
    assert first < out.index(FIRST) < second < out.index(SECOND)
    part_one, part_two = out[first:second], out[second:]
    lines = part_one.splitlines()
    assert any("anthropic/claude-test" in line and "✓ selected by alice" in line for line in lines)
    assert any("openai/gpt-test" in line and "deleted" in line for line in lines)
    assert "Paris, says OpenAI." in part_one  # deleted, still shown
    assert part_one.index("Paris, says Anthropic.") < part_one.index("Paris, says OpenAI.")  # deleted ones last
    assert "selected" not in part_two and "deleted" not in part_two
    assert "ollama/llama-test" in part_two and "Ollama" in part_two.split("ollama/llama-test", 1)[1]  # the error
    assert "UTC" in out and "tokens" in out and "#1 · " in out and "/10 by " in out  # rank, score in words
    hint = out.strip().splitlines()[-1]
    assert f"export {stored.conversation_id} writes it as a decision record" in hint


async def test_json_is_one_object_with_the_questions_and_marked_answers(stored: Stored, tmp_path: Path) -> None:
    code, out, err = await show(tmp_path, str(stored.conversation_id), "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["conversation_id"], shown["title"]) == (stored.conversation_id, FIRST)
    assert [(q["question"], q["asked_by"]) for q in shown["questions"]] == [(FIRST, "alice"), (SECOND, "bob")]
    assert all(q["asked_at"].endswith("+00:00") for q in shown["questions"])
    answers = {a["id"]: a for q in shown["questions"] for a in q["answers"]}
    assert len(answers) == 6
    assert all(
        set(a)
        == {
            "id",
            "provider",
            "model",
            "status",
            "summary",
            "reasoning",
            "rank_reason",
            "score",
            "score_method",
            "content",
            "latency_ms",
            "tokens_in",
            "tokens_out",
            "cost_usd",
            "error",
            "key",
            "ended",
            "ended_note",
            "stopped_by",
            "thinking",
            "merge",
            "merged_from",
            "rank",
            "selected",
            "selected_by",
            "deleted",
        }
        for a in answers.values()
    )
    assert [(a["id"], a["selected_by"]) for a in answers.values() if a["selected"]] == [(stored.selected_id, "alice")]
    assert [a["id"] for a in answers.values() if a["deleted"]] == [stored.deleted_id]
    assert answers[stored.deleted_id]["summary"] == "Paris, says OpenAI."
    failed = answers[stored.failed_id]
    assert failed["status"] == "failed" and failed["error"] and failed["score"] is None
    assert shown["questions"][1]["status"] == "PARTIAL"


async def test_an_id_that_is_not_here_exits_2_with_one_line(stored: Stored, tmp_path: Path) -> None:
    unknown, other_workspace = stored.other_workspace_conversation_id + 1, stored.other_workspace_conversation_id
    for conversation_id in (unknown, other_workspace, 0, 2**64):
        for extra in ((), ("--json",)):
            code, out, err = await show(tmp_path, str(conversation_id), *extra)
            assert code == 2
            assert out == ""
            assert err == (
                f"Error: there is no conversation {conversation_id} in this terminal's "
                "workspace; `consensus history` lists them.\n"
            )


def test_the_command_module_imports_nothing_heavy() -> None:
    """`consensus --help` must start fast: commands import settings, the core and rich when they run."""
    code = (
        "import sys, bot.cli; heavy = {'rich', 'sqlalchemy', 'pydantic', 'openai', 'anthropic', 'adapters'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"

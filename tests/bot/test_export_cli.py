"""`consensus export ID [--format md|json]`, in this process against a database the real core filled:
the decision record says what was asked, answered, selected and deleted; hostile text stays inert; no
key hint or internal id but the conversation's appears."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli_base import TERMINAL
from core.domain import Actor, Platform, Question, WorkspaceRef
from tests.bot.inprocess import run_cli
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer

HOSTILE = "Is <script>alert(1)</script> **bold** or [a link](http://evil.test)?"


async def export(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return await run_cli({"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/consensus.db"}, "export", *args)


async def test_markdown_and_json_records(make_core: MakeCore, llm_server: FakeLLMServer, tmp_path: Path) -> None:
    llm_server.answers.update(
        {
            "gpt-test": "No.\nTL;DR: Say no, says OpenAI.\nWHY: Safety first.",
            "claude-test": "Yes.\nTL;DR: Say _yes_ <b>now</b>, says Anthropic.\nWHY: It is fine.",
        }
    )
    service = (await make_core()).service
    asked = await service.ask(Question(TERMINAL, "terminal", "alice", HOSTILE))
    batch = await service.wait_for_batch(asked.id, TERMINAL)
    by_model = {a.provider_id: a for a in batch.answers}
    alice = Actor(TERMINAL, "alice")
    await service.select(by_model["anthropic/claude-test"].id, alice)
    await service.delete(by_model["openai/gpt-test"].id, alice)
    other = await service.ask(Question(WorkspaceRef(Platform.SLACK, "T1"), "C1", "U1", "Not the terminal's"))
    await service.wait_for_batch(other.id, WorkspaceRef(Platform.SLACK, "T1"))

    code, out, err = await export(tmp_path, str(batch.conversation_id))
    assert code == 0, err
    assert out.startswith("# Decision record: ")
    assert f"Conversation {batch.conversation_id}, started by alice" in out
    assert "<script>" not in out and "&lt;script&gt;" in out and "\\*\\*bold\\*\\*" in out
    assert "\\[a link\\]\\(http://evil\\.test\\)" in out and "<b>" not in out
    assert "✓ selected by alice" in out and "Say \\_yes\\_ &lt;b&gt;now&lt;/b&gt;, says Anthropic\\." in out
    assert "~~OpenAI (openai/gpt\\-test)~~: deleted (not shown)" in out
    assert "Say no, says OpenAI" not in out  # deleted: marked, its text not shown
    assert "Cost of this question:" in out and "**Total cost:**" in out
    assert "key" not in out.lower() and "operator" not in out  # which key paid is not part of the record

    code, out, err = await export(tmp_path, str(batch.conversation_id), "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["conversation_id"] == batch.conversation_id and record["questions"][0]["question"] == HOSTILE
    answers = record["questions"][0]["answers"]
    assert {"model": "openai/gpt-test", "label": "OpenAI", "deleted": True} in answers
    chosen = next(a for a in answers if a.get("selected"))
    assert (chosen["model"], chosen["selected_by"]) == ("anthropic/claude-test", "alice")
    text = json.dumps(record)
    assert '"id"' not in text and "message_id" not in text and '"key' not in text

    code, out, err = await export(tmp_path, str(other.conversation_id))
    assert code == 2 and "no conversation" in err and out == ""
    code, out, err = await export(tmp_path, "1", "--format", "pdf")
    assert code == 2 and "Invalid value for '--format'" in err

"""The terminal's cards draw the presenter's facts: rank, score in words, usage, who paid."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console

from adapters.presenter import card as presenter
from adapters.terminal.render import batch_json, card, print_batch
from bot.cli_base import TERMINAL
from core.domain import Answer, AnswerStatus, Batch, BatchStatus

DONE = Answer(
    id=7,
    batch_id=1,
    conversation_id=1,
    provider_id="openai/gpt-test",
    label="OpenAI",
    status=AnswerStatus.COMPLETED,
    content="It is 4.",
    summary="It is 4.",
    score=7.0,
    rank=2,
    score_method="consensus",
    latency_ms=1500,
    tokens_in=3,
    tokens_out=4,
    key_label="team ••3f9a",
)


def shown(*renderables: object) -> str:
    console = Console(file=io.StringIO(), record=True, width=160)
    for item in renderables:
        console.print(item)
    return console.export_text()


def test_a_card_shows_its_rank_and_the_same_facts_as_the_chat_cards() -> None:
    text = shown(card(DONE, full=False))
    assert "#2 · 7.0/10 by agreement" in text
    assert presenter.usage_line(DONE) in text  # "1.5 s · 3 in / 4 out tokens · cost unknown · key: team ••3f9a"
    assert "not ranked" in shown(card(replace(DONE, score=None, rank=None), full=False))


def test_failed_waiting_and_deleted_cards() -> None:
    assert "boom" in shown(card(replace(DONE, status=AnswerStatus.FAILED, error="boom", attempts=2), full=False))
    assert "pending, no answer yet" in shown(card(replace(DONE, status=AnswerStatus.PENDING), full=False))
    assert "deleted" in shown(card(replace(DONE, is_deleted=True), full=False))
    assert "selected by U1" in shown(card(replace(DONE, is_selected=True, selected_by="U1"), full=False))


def test_a_batch_prints_best_first() -> None:
    failed = replace(DONE, id=8, label="Claude", status=AnswerStatus.FAILED, error="x", score=None, rank=None)
    best = replace(DONE, id=9, label="Local", score=9.0, rank=1)
    batch = Batch(1, 1, 1, TERMINAL, "terminal", None, "me", "q?", BatchStatus.PARTIAL, (failed, DONE, best))
    console = Console(file=io.StringIO(), record=True, width=160)
    print_batch(console, batch, full=False)
    text = console.export_text()
    assert text.index("Local") < text.index("OpenAI") < text.index("Claude")
    assert [a["id"] for a in batch_json(batch)["answers"]] == [9, 7, 8]


def test_a_cut_answer_says_how_it_ended() -> None:
    cut = replace(DONE, ended="closed", replaced_characters=True)
    text = shown(card(cut, full=False))
    assert "the connection closed before the answer ended" in text
    assert "some characters were not valid UTF-8" in text
    assert "ended" not in shown(card(replace(DONE, ended="complete"), full=False))


def test_the_reasoning_shows_only_in_full_and_labelled() -> None:
    thought = replace(DONE, thinking="The user wants a sum.")
    assert "The user wants" not in shown(card(thought, full=False))
    text = shown(card(thought, full=True))
    assert "The model's reasoning" in text and "The user wants a sum." in text


def test_a_stopped_answer_says_who_stopped_it_in_the_card_the_json_and_the_record() -> None:
    from adapters.presenter import record
    from core.domain import ConversationDetail

    kept = replace(DONE, ended="stopped", stopped_by="alice", content="Half of it", tokens_in=None, tokens_out=None)
    empty = replace(
        DONE, id=8, label="Claude", status=AnswerStatus.FAILED, ended="stopped", stopped_by="alice", content=None
    )
    assert "⏹ Stopped by alice" in shown(card(kept, full=False))
    text = shown(card(empty, full=False))
    assert "⏹ Stopped by alice; no text was kept" in text and "failed" not in text.lower()
    batch = Batch(1, 1, 1, TERMINAL, "terminal", None, "me", "q?", BatchStatus.PARTIAL, (kept, empty))
    answers = batch_json(batch)["answers"]
    assert [(a["ended"], a["stopped_by"]) for a in answers] == [("stopped", "alice")] * 2
    detail = ConversationDetail(1, "q?", "me", datetime(2026, 1, 1, tzinfo=UTC), (batch,))
    written = record.markdown(detail)
    assert "stopped by alice ·" in written and "stopped by alice; no text was kept" in written
    assert "Failed:" not in written
    assert [a["stopped_by"] for a in record.data(detail)["questions"][0]["answers"]] == ["alice", "alice"]

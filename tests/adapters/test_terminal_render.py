"""The terminal's cards: how an answer ended, and the model's reasoning only with --full."""

from __future__ import annotations

import dataclasses

from rich.console import Console

from adapters.terminal.render import card
from core.domain import Answer, AnswerStatus

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
    rank=1,
    ended="complete",
    thinking="The user wants a sum.",
)


def shown(answer: Answer, full: bool) -> str:
    console = Console(record=True, width=120)
    console.print(card(answer, full))
    return console.export_text()


def test_a_cut_answer_says_how_it_ended() -> None:
    cut = dataclasses.replace(DONE, ended="closed", replaced_characters=True)
    text = shown(cut, full=False)
    assert "the connection closed before the answer ended" in text
    assert "some characters were not valid UTF-8" in text
    assert "ended" not in shown(DONE, full=False)


def test_the_reasoning_shows_only_in_full_and_labelled() -> None:
    assert "The user wants" not in shown(DONE, full=False)
    text = shown(DONE, full=True)
    assert "The model's reasoning" in text and "The user wants a sum." in text

"""A conversation as a decision record, for every platform: Markdown to read, or plain data for JSON.

The record says what was asked and decided: each question, each model's summary, score, rank and
why, what was selected and by whom, which answers were deleted (marked, their text not shown), the
consensus line, and the costs and times. It carries no key, no key hint and no internal id but the
conversation's. Every text from people or models is made inert for Markdown: it can neither format
the record nor hide HTML in it."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from adapters.presenter.card import best_first, usage_parts
from core.cost import money, total
from core.domain import Answer, AnswerStatus, Batch, ConversationDetail

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
Who = Callable[[str], str]  # a user id as the record shows that person, made inert


def inert(text: str) -> str:
    """Text shown as itself in Markdown: HTML's characters as entities, Markdown's backslashed, one line."""
    flat = " ".join(text.split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", flat)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown time"


def _cost(answers: tuple[Answer, ...]) -> str:
    """The total of the known prices; answers with unknown prices make it a floor, said so."""
    spent = total(answers)
    return spent.text if spent is not None else money(0.0)


def _ended(answer: Answer) -> str:
    if answer.is_stopped and answer.status is not AnswerStatus.COMPLETED:  # nothing kept: not a failure
        return answer.ending_note or "stopped"
    if answer.status is AnswerStatus.FAILED:
        return "failed"
    if answer.status is not AnswerStatus.COMPLETED:
        return "unfinished"
    return answer.ending_note or "complete"


def _answer_lines(answer: Answer, who: Who) -> list[str]:
    name = f"{inert(answer.label)} ({inert(answer.provider_id)})"
    if answer.is_deleted:
        return [f"- ~~{name}~~: deleted (not shown)"]
    head = [f"**{name}**"]
    if answer.rank is not None:
        head.append(f"rank {answer.rank}")
    if answer.score is not None:
        head.append(f"score {answer.score:g}/10")
    if answer.is_selected:
        head.append(f"✓ selected by {who(answer.selected_by) if answer.selected_by else 'someone'}")
    lines = [f"- {' · '.join(head)}"]
    if answer.status is AnswerStatus.FAILED and not answer.is_stopped:
        lines.append(f"  - Failed: {inert(answer.error or 'no reason given')}")
    if answer.summary:
        lines.append(f"  - Summary: {inert(answer.summary)}")
    if answer.reasoning:
        lines.append(f"  - Why: {inert(answer.reasoning)}")
    if answer.rank_reason:
        lines.append(f"  - Ranked: {inert(answer.rank_reason)}")
    facts = [_ended(answer), *usage_parts(answer)]  # the card's own words: "≈" on a stopped answer
    lines.append(f"  - {' · '.join(facts)}")
    return lines


def _question_lines(number: int, total: int, batch: Batch, who: Who) -> list[str]:
    lines = [
        f"## Question {number} of {total}",
        "",
        f"Asked by {who(batch.asker)}, {_when(batch.created_at)}.",
        "",
        f"> {inert(batch.question)}",
        "",
    ]
    if batch.consensus:
        lines += [f"**Consensus:** {inert(batch.consensus)}", ""]
    for answer in best_first(batch.answers):
        lines += _answer_lines(answer, who)
    lines += ["", f"Cost of this question: {_cost(batch.answers)}", ""]
    return lines


def people(conversation: ConversationDetail) -> set[str]:
    """The user ids the record names: who started it, asked, and selected."""
    found = {conversation.created_by} | {b.asker for b in conversation.batches}
    return found | {a.selected_by for b in conversation.batches for a in b.answers if a.selected_by}


def markdown(conversation: ConversationDetail, names: Mapping[str, str] | None = None) -> str:
    """The record; `names` shows people by name instead of their user ids (the platform's)."""
    known = names or {}

    def who(user: str) -> str:
        return inert(known.get(user, user))

    total = len(conversation.batches)
    lines = [
        f"# Decision record: {inert(conversation.title)}",
        "",
        f"Conversation {conversation.id}, started by {who(conversation.created_by)}, "
        f"{_when(conversation.created_at)}. {total} question{'s' if total != 1 else ''}.",
        "",
    ]
    for number, batch in enumerate(conversation.batches, 1):
        lines += _question_lines(number, total, batch, who)
    every = tuple(a for b in conversation.batches for a in b.answers)
    lines.append(f"**Total cost:** {_cost(every)}")
    return "\n".join(lines) + "\n"


def _answer_data(answer: Answer) -> dict[str, Any]:
    if answer.is_deleted:
        return {"model": answer.provider_id, "label": answer.label, "deleted": True}
    return {
        "model": answer.provider_id,
        "label": answer.label,
        "status": answer.status.value,
        "ended": _ended(answer),
        "summary": answer.summary,
        "why": answer.reasoning,
        "score": answer.score,
        "score_method": answer.score_method,
        "rank": answer.rank,
        "rank_reason": answer.rank_reason,
        "error": answer.error,
        "selected": answer.is_selected,
        "selected_by": answer.selected_by,
        "stopped_by": answer.stopped_by,
        "deleted": False,
        "latency_ms": answer.latency_ms,
        "cost_usd": answer.cost_usd,
    }


def data(conversation: ConversationDetail) -> dict[str, Any]:
    """The same record as plain data (for JSON): no key, no internal id but the conversation's."""
    return {
        "conversation_id": conversation.id,
        "title": conversation.title,
        "created_by": conversation.created_by,
        "created_at": conversation.created_at.isoformat(),
        "questions": [
            {
                "question": b.question,
                "asked_by": b.asker,
                "asked_at": b.created_at.isoformat() if b.created_at else None,
                "consensus": b.consensus,
                "answers": [_answer_data(a) for a in best_first(b.answers)],
            }
            for b in conversation.batches
        ],
    }

"""`consensus ask` in a terminal: a live row per model while it runs, then one card per model.
`consensus show` prints a stored conversation with the same cards, marked selected or deleted."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.rule import Rule
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from adapters.presenter.card import (
    best_first,
    consensus_line,
    ending_line,
    score_text,
    sources_line,
    usage_line,
    view,
)
from adapters.presenter.cost import cost_line
from core.cost import total
from core.domain import Answer, AnswerStatus, Batch, BatchStatus, ConversationDetail
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, BatchResumed, Event
from core.ranking.judge import JUDGE_FAILED
from core.resilience import tries


class LiveProgress:
    """One row per model: spinner, elapsed seconds, status. Fed by the service's events."""

    def __init__(self, batch: Batch, console: Console) -> None:
        self.batch_id = batch.id
        self.started = time.monotonic()
        self.status = {a.id: "waiting" for a in batch.answers}
        self.names = {a.id: a.provider_id for a in batch.answers}
        self.done: dict[int, float] = {}
        for answer in batch.answers:  # answered before this run (`consensus merge`): shown as they are
            if answer.status in (AnswerStatus.COMPLETED, AnswerStatus.FAILED):
                self.status[answer.id] = "answered" if answer.status is AnswerStatus.COMPLETED else "failed"
                self.done[answer.id] = self.started
        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=True)
        self.live.get_renderable = self._render  # type: ignore[method-assign]

    def _render(self) -> Any:
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for answer_id, name in self.names.items():
            finished = answer_id in self.done
            elapsed = self.done.get(answer_id, now) - self.started
            icon: Any = (
                Text("✓" if self.status[answer_id].startswith("answered") else "✗") if finished else Spinner("dots")
            )
            table.add_row(icon, Text(name, style="bold"), f"{elapsed:5.1f} s", Text(self.status[answer_id]))
        return table

    async def on_event(self, event: Event) -> None:
        if isinstance(event, BatchRanked | BatchResumed):
            return
        answer = event.answer
        if answer.batch_id != self.batch_id:
            return
        if answer.id not in self.names:  # a merge, started after the answers
            self.names[answer.id] = f"{answer.label}: {answer.provider_id}"
            self.status[answer.id] = "waiting"
        if isinstance(event, AnswerStarted):
            self.status[answer.id] = "asking"
        elif isinstance(event, AnswerProgress):
            self.status[answer.id] = f"writing ({len(event.text)} chars)"
        elif isinstance(event, AnswerReady):
            note = f" ({answer.ending_note})" if answer.ending_note else ""
            self.status[answer.id], self.done[answer.id] = "answered" + note, time.monotonic()
        elif isinstance(event, AnswerFailed):
            self.status[answer.id], self.done[answer.id] = "failed", time.monotonic()


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "time unknown"


def marks(answer: Answer) -> Text:
    """What people did with the answer: selected (by whom) or deleted; nothing for a fresh one."""
    if answer.is_deleted:
        return Text(" deleted", style="bold red")
    if answer.is_selected:
        return Text(f" ✓ selected by {answer.selected_by or 'someone'}", style="bold green")
    return Text()


def card(answer: Answer, full: bool) -> Panel:
    """One answer as a panel: the facts and the rank in the presenter's words; deleted ones faded."""
    shown = view(answer)
    title = Text.assemble((answer.label, "bold"), " ", (answer.provider_id, "dim"), marks(answer))
    faded = "bright_black" if answer.is_deleted else None
    if answer.status == AnswerStatus.FAILED:
        stopped = ending_line(answer) if answer.is_stopped else None
        return Panel(
            Text(f"{stopped.icon} {stopped.note}", style="yellow")
            if stopped
            else Text(answer.error or "failed", style="red"),
            title=title,
            title_align="left",
            border_style=faded or "red",
            subtitle=tries(answer.attempts),
        )
    if answer.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING):  # a batch still running, or cut off
        return Panel(
            Text(f"{answer.status.value}, no answer yet", style="dim"),
            title=title,
            title_align="left",
            border_style=faded or "yellow",
        )
    # the rank shows once: beside what decided it when the card says that, else here
    rank = f"#{answer.rank}" if answer.rank is not None and not shown.rank_line else ""
    ranked = " · ".join(part for part in (rank, score_text(answer)) if part) or "not ranked"
    body: list[Any] = [Text(answer.summary or "", style="default")]
    ending = ending_line(answer)
    if ending:
        body.append(Text(f"{ending.icon} {ending.note}", style="yellow"))
    if shown.why:
        body.append(Text(f"Why: {shown.why}", style="italic"))
    if shown.rank_line:
        body.append(Text(shown.rank_line, style="dim"))
    if answer.merged_from:
        body.append(Text(sources_line(answer), style="dim"))
    if full and answer.content:
        from rich.markdown import Markdown  # its parser and highlighter: only when whole answers show

        body.append(Markdown(answer.expanded_text))
    top = answer.is_selected or shown.is_top
    return Panel(
        Group(*body),
        title=title,
        title_align="left",
        subtitle=f"{ranked} · {usage_line(answer)}",
        subtitle_align="right",
        border_style=faded or ("green" if top else "blue"),
    )


def print_batch(console: Console, batch: Batch, full: bool, *, heading: RenderableType | None = None) -> None:
    console.print(heading or Text(f"Conversation {batch.conversation_id} · question {batch.message_id}", style="dim"))
    for answer in best_first(batch.answers):
        console.print(card(answer, full))
    judge_failed = next((m for a in batch.answers if (m := a.score_method) and JUDGE_FAILED in m), None)
    if judge_failed:
        reason = judge_failed.partition(JUDGE_FAILED)[2].rstrip(")").strip()
        console.print(
            Text(f"The reviewer failed ({reason}); the answers are ranked by how much they agree.", style="yellow")
        )
    line = consensus_line(batch)
    if line:
        console.print(Text(line, style="yellow" if batch.disagree else "green"))
    spent = cost_line(batch)
    if spent:
        console.print(Text(spent[0].upper() + spent[1:], style="dim"))


def print_conversation(console: Console, conversation: ConversationDetail, full: bool) -> None:
    """Every question in the order asked, who asked it and when, then its cards."""
    count = len(conversation.batches)
    console.print(
        Text(
            f"Conversation {conversation.id} · started by {conversation.created_by} · "
            f"{when(conversation.created_at)} · {count} question{'s' if count != 1 else ''}",
            style="dim",
        )
    )
    for number, batch in enumerate(conversation.batches, 1):
        unfinished = "" if batch.status == BatchStatus.COMPLETED else f" · {batch.status.value.lower()}"
        rule = Rule(
            Text(f"Question {number} of {count} · {batch.asker} · {when(batch.created_at)}{unfinished}"),
            align="left",
            style="dim",
        )
        print_batch(console, batch, full, heading=Group(rule, Text(batch.question, style="bold")))


def answer_json(answer: Answer, *, marked: bool = False) -> dict[str, Any]:
    """`marked`: also the rank and what people did with the answer (for stored conversations)."""
    a = answer
    found = {
        "id": a.id,
        "provider": a.provider_id.split("/", 1)[0],
        "model": a.model,
        "status": a.status.value,
        "summary": a.summary,
        "reasoning": a.reasoning,
        "score": a.score,
        "rank_reason": a.rank_reason,
        "score_method": a.score_method,
        "content": a.content,
        "latency_ms": a.latency_ms,
        "tokens_in": a.tokens_in,
        "tokens_out": a.tokens_out,
        "cost_usd": a.cost_usd,
        "error": a.error,
        "key": a.key_label,
        "ended": a.ended,
        "ended_note": a.ending_note,
        "stopped_by": a.stopped_by,
        "thinking": a.thinking,
        "merge": a.is_merge,
        "merged_from": [{"letter": letter, "model": name} for letter, name in sorted(a.merged_from)],
    }
    if marked:
        found.update(rank=a.rank, selected=a.is_selected, selected_by=a.selected_by, deleted=a.is_deleted)
    return found


def batch_json(batch: Batch, *, marked: bool = False) -> dict[str, Any]:
    return {
        "conversation_id": batch.conversation_id,
        "message_id": batch.message_id,
        "status": batch.status.value,
        "consensus": batch.consensus,
        "disagree": batch.disagree,
        "cost": cost_json(batch),
        "answers": [answer_json(a, marked=marked) for a in best_first(batch.answers)],
    }


def cost_json(batch: Batch) -> dict[str, Any]:
    """What the answers cost (`usd` counts the known prices only; `unknown_prices` says how many are
    missing, so a partial sum is never taken for the total) and what was estimated before asking."""
    spent = total(batch.answers)
    estimate = batch.estimate
    return {
        "usd": spent.known_usd if spent else None,
        "unknown_prices": spent.unknown if spent else 0,
        "text": spent.text if spent else None,
        "estimate": None if estimate is None else {**estimate.stored(), "text": estimate.text},
    }


def conversation_json(conversation: ConversationDetail) -> dict[str, Any]:
    questions = []
    for batch in conversation.batches:
        entry = batch_json(batch, marked=True)
        del entry["conversation_id"]  # said once, at the top
        questions.append(
            {
                "message_id": entry.pop("message_id"),
                "question": batch.question,
                "asked_by": batch.asker,
                "asked_at": batch.created_at.isoformat() if batch.created_at else None,
                **entry,
            }
        )
    return {
        "conversation_id": conversation.id,
        "title": conversation.title,
        "created_by": conversation.created_by,
        "created_at": conversation.created_at.isoformat(),
        "questions": questions,
    }

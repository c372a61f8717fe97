"""`consensus ask` in a terminal: a live row per model while it runs, then one card per model."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from core.domain import Answer, AnswerStatus, Batch
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, Event


def money(cost: float | None) -> str:
    return "cost unknown" if cost is None else f"${cost:.4f}"


def stats(answer: Answer) -> str:
    parts = []
    if answer.latency_ms is not None:
        parts.append(f"{answer.latency_ms / 1000:.1f} s")
    if answer.tokens_in is not None or answer.tokens_out is not None:
        parts.append(f"{answer.tokens_in or 0}→{answer.tokens_out or 0} tokens")
    parts.append(money(answer.cost_usd))
    if answer.key_label:
        parts.append(f"key: {answer.key_label}")
    return " · ".join(parts)


class LiveProgress:
    """One row per model: spinner, elapsed seconds, status. Fed by the service's events."""

    def __init__(self, batch: Batch, console: Console) -> None:
        self.batch_id = batch.id
        self.started = time.monotonic()
        self.status = {a.id: "waiting" for a in batch.answers}
        self.names = {a.id: a.provider_id for a in batch.answers}
        self.done: dict[int, float] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=8, transient=True)
        self.live.get_renderable = self._render  # type: ignore[method-assign]

    def _render(self) -> Any:
        table = Table.grid(padding=(0, 2))
        now = time.monotonic()
        for answer_id, name in self.names.items():
            finished = answer_id in self.done
            elapsed = self.done.get(answer_id, now) - self.started
            icon: Any = (Text("✓" if self.status[answer_id].startswith("answered") else "✗") if finished
                         else Spinner("dots"))
            table.add_row(icon, Text(name, style="bold"), f"{elapsed:5.1f} s", Text(self.status[answer_id]))
        return table

    async def on_event(self, event: Event) -> None:
        if isinstance(event, BatchRanked):
            return
        answer = event.answer
        if answer.batch_id != self.batch_id:
            return
        if isinstance(event, AnswerStarted):
            self.status[answer.id] = "asking"
        elif isinstance(event, AnswerProgress):
            self.status[answer.id] = f"writing ({len(event.text)} chars)"
        elif isinstance(event, AnswerReady):
            note = f" ({answer.ending_note})" if answer.ending_note else ""
            self.status[answer.id], self.done[answer.id] = "answered" + note, time.monotonic()
        elif isinstance(event, AnswerFailed):
            self.status[answer.id], self.done[answer.id] = "failed", time.monotonic()


def card(answer: Answer, full: bool) -> Panel:
    title = Text.assemble((answer.label, "bold"), " ", (answer.provider_id, "dim"))
    if answer.status == AnswerStatus.FAILED:
        return Panel(Text(answer.error or "failed", style="red"), title=title, title_align="left",
                     border_style="red", subtitle=f"{answer.attempts} tries")
    score = f"{answer.score:.1f}/10 · #{answer.rank}" if answer.score is not None else "not ranked"
    body: list[Any] = [Text(answer.summary or "", style="default")]
    if answer.ending_note:
        body.append(Text(f"✂ {answer.ending_note}", style="yellow"))
    if answer.reasoning:
        body.append(Text(f"Why: {answer.reasoning}", style="italic"))
    if full and answer.content:
        body.append(Markdown(answer.expanded_text))
    return Panel(Group(*body), title=title, title_align="left", subtitle=f"{score} · {stats(answer)}",
                 subtitle_align="right", border_style="green" if answer.rank == 1 else "blue")


def best_first(batch: Batch) -> list[Answer]:
    return sorted(batch.answers, key=lambda a: (a.status != AnswerStatus.COMPLETED,
                                                -(a.score if a.score is not None else -1), a.id))


def print_batch(console: Console, batch: Batch, full: bool) -> None:
    console.print(Text(f"Conversation {batch.conversation_id} · question {batch.message_id}", style="dim"))
    for answer in best_first(batch):
        console.print(card(answer, full))
    if batch.consensus:
        style = "yellow" if batch.disagree else "green"
        console.print(Text(("Models disagree: " if batch.disagree else "Consensus: ") + batch.consensus, style=style))


def batch_json(batch: Batch) -> dict[str, Any]:
    return {
        "conversation_id": batch.conversation_id,
        "message_id": batch.message_id,
        "status": batch.status.value,
        "consensus": batch.consensus,
        "disagree": batch.disagree,
        "answers": [
            {"id": a.id, "provider": a.provider_id.split("/", 1)[0], "model": a.model, "status": a.status.value,
             "summary": a.summary, "reasoning": a.reasoning, "score": a.score, "score_method": a.score_method,
             "content": a.content, "latency_ms": a.latency_ms, "tokens_in": a.tokens_in,
             "tokens_out": a.tokens_out, "cost_usd": a.cost_usd, "error": a.error, "key": a.key_label,
             "ended": a.ended, "ended_note": a.ending_note, "thinking": a.thinking}
            for a in best_first(batch)
        ],
    }

"""What the leaderboard says and how its bars look, for Slack, Discord and the terminal alike.
A bar is the share of a model's answers that people selected; the range after it is the 95%
interval, so a short history reads as uncertain rather than as a winner."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.presenter.card import Inert
from core.leaderboard import Leaderboard, Standing

BAR_WIDTH = 12
FULL, EMPTY = "█", "░"


def _same(text: str) -> str:
    return text


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar of `width` cells, `fraction` of them full (rounded to the nearest cell)."""
    full = round(max(0.0, min(1.0, fraction)) * width)
    return FULL * full + EMPTY * (width - full)


def percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def share_text(standing: Standing) -> str:
    low = f"{standing.share_low * 100:.0f}"
    return f"{percent(standing.share)} ({low}–{percent(standing.share_high)})"


def duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def facts(standing: Standing) -> str:
    """Everything but the share: counts and medians, unknowns left out rather than guessed."""
    parts = [
        f"{standing.selected} of {standing.answers} selected",
        f"ranked first {standing.ranked_first}×",
    ]
    if standing.median_latency_ms is not None:
        parts.append(f"median {duration(standing.median_latency_ms)}")
    if standing.median_cost_usd is not None:
        parts.append(f"median ${standing.median_cost_usd:.4f}")
    return " · ".join(parts)


def heading(board: Leaderboard, where: str) -> str:
    """`where`: the platform's name for the scope ("this workspace", a channel link)."""
    days = "the last day" if board.days == 1 else f"the last {board.days} days"
    return f"Which answers the team selected, {where}, over {days}"


def empty_text(board: Leaderboard) -> str:
    return f"No answers in the last {board.days} day{'s' if board.days != 1 else ''} yet."


@dataclass(frozen=True, slots=True)
class Row:
    bar: str
    share: str
    model: str
    facts: str


def rows(board: Leaderboard, inert: Inert = _same) -> list[Row]:
    """One row per model, best first; `inert` makes the model's name safe for the platform."""
    return [Row(bar(s.share), share_text(s), inert(s.model), facts(s)) for s in board.standings]


def text_lines(board: Leaderboard, inert: Inert = _same, code: Inert = _same) -> list[str]:
    """The rows as lines of platform text; `code` wraps the bar so it keeps its width."""
    return [f"{code(r.bar)} {r.share} *{r.model}*\n{r.facts}" for r in rows(board, inert)]

"""The leaderboard in a terminal: a rich table with the presenter's bars, or one JSON object."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from adapters.presenter import leaderboard as shown
from core.leaderboard import Leaderboard


def print_leaderboard(console: Console, board: Leaderboard) -> None:
    where = f"in channel {board.channel}" if board.channel else "in this workspace"
    console.print(escape(shown.heading(board, where)))
    if not board.standings:
        console.print(shown.empty_text(board))
        return
    table = Table(show_edge=False)
    for column in (
        "model",
        "selected",
        "share (95% interval)",
        "answers",
        "ranked first",
        "median time",
        "median cost",
    ):
        table.add_column(column, justify="left" if column in ("model", "selected") else "right")
    for standing, row in zip(board.standings, shown.rows(board, escape), strict=True):
        table.add_row(
            row.model,
            f"[green]{row.bar}[/green]",
            row.share,
            str(standing.answers),
            str(standing.ranked_first),
            "—" if standing.median_latency_ms is None else shown.duration(standing.median_latency_ms),
            "—" if standing.median_cost_usd is None else f"${standing.median_cost_usd:.4f}",
        )
    console.print(table)


def leaderboard_json(board: Leaderboard) -> dict[str, Any]:
    return {
        "since": board.since.isoformat(),
        "days": board.days,
        "channel": board.channel,
        "models": [
            {
                "model": s.model,
                "answers": s.answers,
                "selected": s.selected,
                "share_selected": s.share,
                "share_interval_95": [s.share_low, s.share_high],
                "ranked_first": s.ranked_first,
                "median_latency_ms": s.median_latency_ms,
                "median_cost_usd": s.median_cost_usd,
            }
            for s in board.standings
        ],
    }

"""`consensus leaderboard`: which models' answers this terminal's workspace selected."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bot.cli_base import TERMINAL, load_settings, run, with_core

if TYPE_CHECKING:
    from bot.wiring import Core

DAYS = 30  # core.leaderboard.DEFAULT_DAYS; not imported here so `--help` stays fast
MAX_DAYS = 3660


@click.command()
@click.option("--channel", metavar="CHANNEL", help="Only questions asked in this channel.")
@click.option("--days", default=DAYS, show_default=True, type=click.IntRange(1, MAX_DAYS), help="Over the last N days.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def leaderboard(channel: str | None, days: int, as_json: bool) -> None:
    """Per model: answers given, how often the team selected them (with a 95% interval), how often
    the bot ranked them first, and the median time and cost."""
    settings = load_settings()

    async def work(core: Core) -> None:
        from rich.console import Console

        from adapters.terminal.leaderboard import leaderboard_json, print_leaderboard

        board = await core.service.leaderboard(TERMINAL, channel=channel, days=days)
        if as_json:
            click.echo(json.dumps(leaderboard_json(board), ensure_ascii=False))
        else:
            print_leaderboard(Console(), board)

    run(lambda: with_core(settings, work))

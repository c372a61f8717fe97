"""`consensus export ID`: a stored conversation of this terminal's workspace as a decision record."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from bot.cli_base import TERMINAL, load_settings, run, with_core
from bot.cli_show import MAX_ID, not_found

if TYPE_CHECKING:
    from bot.wiring import Core


@click.command()
@click.argument("conversation_id", metavar="ID", type=int)
@click.option("--format", "form", type=click.Choice(["md", "json"]), default="md", show_default=True)
def export(conversation_id: int, form: str) -> None:
    """Print conversation ID as a decision record: each question, each model's summary, score, rank
    and why, what was selected and by whom, the deleted answers marked, the costs and times."""
    if not 0 < conversation_id <= MAX_ID:
        sys.exit(not_found(conversation_id))
    from adapters.presenter import record
    from core.errors import NotFoundError

    settings = load_settings()

    async def work(core: Core) -> int:
        try:
            conversation = await core.service.get_conversation(conversation_id, TERMINAL)
        except NotFoundError:
            return not_found(conversation_id)
        if form == "json":
            click.echo(json.dumps(record.data(conversation), ensure_ascii=False))
        else:
            click.echo(record.markdown(conversation), nl=False)
        return 0

    sys.exit(run(lambda: with_core(settings, work)))

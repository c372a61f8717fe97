"""`consensus export ID`: a stored conversation of this terminal's workspace as a decision record."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from bot.cli_show import print_stored

if TYPE_CHECKING:
    from core.domain import ConversationDetail


@click.command()
@click.argument("conversation_id", metavar="ID", type=int)
@click.option("--format", "form", type=click.Choice(["md", "json"]), default="md", show_default=True)
def export(conversation_id: int, form: str) -> None:
    """Print conversation ID as a decision record: each question, each model's summary, score, rank
    and why, what was selected and by whom, the deleted answers marked, the costs and times."""
    from adapters.presenter import record

    def shown(conversation: ConversationDetail) -> None:
        if form == "json":
            click.echo(json.dumps(record.data(conversation), ensure_ascii=False))
        else:
            click.echo(record.markdown(conversation), nl=False)

    print_stored(conversation_id, shown)

"""`consensus show ID`: a stored conversation of this terminal's workspace, read back whole."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import click

from bot.cli_base import EXIT_USAGE, TERMINAL, consensus_command, load_settings, run, with_core

if TYPE_CHECKING:
    from bot.wiring import Core
    from core.domain import ConversationDetail

MAX_ID = 2**63 - 1  # the largest id a database row can have


def not_found(conversation_id: int) -> int:
    click.echo(
        f"Error: there is no conversation {conversation_id} in this terminal's workspace; "
        f"`{consensus_command()} history` lists them.",
        err=True,
    )
    return EXIT_USAGE


@click.command()
@click.argument("conversation_id", metavar="ID", type=int)
@click.option("--full", is_flag=True, help="Show whole answers, not only summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(conversation_id: int, full: bool, as_json: bool) -> None:
    """Print conversation ID: every question in order with who asked it and when, every answer,
    who selected what, and the deleted answers, marked."""
    from rich.console import Console
    from rich.text import Text

    from adapters.terminal.render import conversation_json, print_conversation

    def shown(conversation: ConversationDetail) -> None:
        if as_json:
            click.echo(json.dumps(conversation_json(conversation), ensure_ascii=False))
            return
        console = Console()
        print_conversation(console, conversation, full)
        export = f"{consensus_command()} export {conversation.id}"
        console.print(Text(f"{export} writes it as a decision record (Markdown; --format json for data).", style="dim"))

    print_stored(conversation_id, shown)


def print_stored(conversation_id: int, shown: Callable[[ConversationDetail], None]) -> NoReturn:
    """Read conversation ID of this terminal's workspace and hand it to `shown`; exit 2 when there
    is no such conversation."""
    if not 0 < conversation_id <= MAX_ID:
        sys.exit(not_found(conversation_id))
    from core.errors import NotFoundError

    settings = load_settings()

    async def work(core: Core) -> int:
        try:
            conversation = await core.service.get_conversation(conversation_id, TERMINAL)
        except NotFoundError:
            return not_found(conversation_id)
        shown(conversation)
        return 0

    sys.exit(run(lambda: with_core(settings, work)))


@click.command()
@click.argument("answer_id", metavar="ANSWER_ID", type=click.IntRange(1, MAX_ID))
def select(answer_id: int) -> None:
    """Keep answer ANSWER_ID (an `id` of `show --json`): the next follow-up gets it as context."""
    from bot.cli_keys import terminal_actor

    settings = load_settings()

    async def work(core: Core) -> None:
        batch = await core.service.select(answer_id, terminal_actor())
        chosen = next(a for a in batch.answers if a.id == answer_id)
        click.echo(
            f"Selected {chosen.label} ({chosen.provider_id}) for “{batch.question[:60]}”; "
            f"`{consensus_command()} ask --follow-up {batch.conversation_id} …` sends it as context."
        )

    run(lambda: with_core(settings, work))

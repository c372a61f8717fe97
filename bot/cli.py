"""The `consensus` command: serve the bots, ask from a terminal, browse history, manage the database."""

from __future__ import annotations

import dataclasses
import gc
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

from bot.cli_base import EXIT_FAILED, EXIT_OK, TERMINAL, ConfigurationProblem, load_settings, run, with_core
from bot.cli_export import export
from bot.cli_keys import keys, models, terminal_actor
from bot.cli_leaderboard import leaderboard
from bot.cli_show import select, show
from bot.cli_stop import first_interrupt_stops, stop

if TYPE_CHECKING:
    from adapters.terminal.render import LiveProgress
    from bot.settings import Settings
    from bot.wiring import Core
    from core.domain import Batch
    from core.service import ConsensusService
    from core.store.store import Store


@click.group()
@click.version_option(package_name="consensus")
def main() -> None:
    """Consensus: one question, several AI models, the best answer kept."""


@main.command()
def serve() -> None:
    """Run the Slack and/or Discord bot (whichever is configured)."""
    # What start-up makes lives as long as the process: collecting it as it comes cost 0.1 s of a
    # 1 s start; collection is on again once it is frozen (bot.serve.freeze_when_loaded).
    gc.disable()
    from bot.serve import serve as serve_forever

    settings = load_settings(default_level="INFO")
    run(lambda: serve_forever(settings))


@main.command()
@click.argument("question")
@click.option("--model", "models", multiple=True, metavar="PROVIDER/MODEL", help="Ask only these models.")
@click.option(
    "--follow-up",
    "conversation",
    type=click.IntRange(1, 2**63 - 1),
    metavar="CONVERSATION_ID",
    help="Continue a conversation; the kept answers go back as context.",
)
@click.option("--merge", "merge", is_flag=True, help="Then write one merged answer from the answers.")
@click.option("--full", is_flag=True, help="Show whole answers, not only summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--estimate", "estimate_only", is_flag=True, help="Print the estimated cost and ask nothing.")
@click.option("--yes", is_flag=True, help="Ask even when the estimate is above the workspace's threshold.")
def ask(
    question: str,
    models: tuple[str, ...],
    conversation: int | None,
    merge: bool,
    full: bool,
    as_json: bool,
    estimate_only: bool,
    yes: bool,
) -> None:
    """Ask every configured model QUESTION at once and rank the answers.

    QUESTION "-" reads it from standard input; a question that begins with "-" follows "--".

    The estimated cost is printed first. --estimate prints only it (with --json, one JSON object) and
    stores, asks and spends nothing. Above the workspace's confirmation threshold (`consensus models
    limits --confirm-above`), a terminal asks before going on; elsewhere pass --yes."""
    from rich.console import Console

    from adapters.presenter.cost import CANCELLED, acknowledgement, confirmation
    from adapters.terminal.render import LiveProgress, batch_json, print_batch
    from core.domain import AnswerStatus, Platform, Question
    from core.errors import ConfigError, ConsensusError

    if question == "-":
        question = read_question()
    settings = load_settings()
    if not models:
        try:
            settings.check_models()
        except ConfigError as exc:
            raise ConfigurationProblem(str(exc)) from None
    console = Console(stderr=as_json)

    async def work(core: Core) -> int:
        await finish_interrupted(core)
        asked = Question(TERMINAL, "terminal", getpass.getuser(), question, models=models or None)
        service = core.service
        estimate = await service.estimate(asked, conversation)
        if estimate_only:
            if as_json:
                click.echo(json.dumps({**estimate.stored(), "text": estimate.text}, ensure_ascii=False))
            else:
                click.echo(f"Estimated: {estimate.text}")
            return EXIT_OK
        console.print(acknowledgement(estimate), style="dim", highlight=False)
        if estimate.needs_confirmation and not yes:
            if not sys.stdin.isatty():
                raise ConsensusError(confirmation(estimate, go_ahead="pass --yes"))
            if not click.confirm(confirmation(estimate), err=True):
                click.echo(CANCELLED, err=True)
                return EXIT_OK
        asked = dataclasses.replace(asked, confirmed=True)
        if conversation:
            batch = await service.follow_up(conversation, asked, estimate)
        else:
            batch = await service.ask(asked, estimate)
        progress = LiveProgress(batch, console)
        service.subscribe(Platform.TERMINAL, progress.on_event)
        batch = await wait_showing(service, progress, batch, live=console.is_terminal and not as_json)
        refusal = None
        if merge and batch.merge is None:  # merged already where the workspace merges after every question
            try:
                batch = await service.merge(batch.id, terminal_actor())
            except ConsensusError as exc:  # e.g. fewer than two answers: the answers still show
                refusal = exc.message
            else:
                batch = await wait_showing(service, progress, batch, live=console.is_terminal and not as_json)
        await service.wait_idle()  # resumed batches too
        if as_json:
            click.echo(json.dumps(batch_json(batch), ensure_ascii=False))
        else:
            print_batch(console, batch, full)
        if refusal:
            click.echo(f"Not merged: {refusal}", err=True)
        answered = any(a.status == AnswerStatus.COMPLETED for a in batch.model_answers)
        return EXIT_OK if answered else EXIT_FAILED

    sys.exit(run(lambda: with_core(settings, work)))


async def wait_showing(service: ConsensusService, progress: LiveProgress, batch: Batch, *, live: bool) -> Batch:
    """The batch once it has run, with a live row per answer meanwhile when `live`; the first Ctrl-C
    stops the models still writing (cli_stop.py)."""
    async with first_interrupt_stops(service, batch.id):
        if not live:
            return await service.wait_for_batch(batch.id, TERMINAL)
        with progress.live:
            return await service.wait_for_batch(batch.id, TERMINAL)


@main.command("merge")
@click.argument("conversation", type=click.IntRange(1, 2**63 - 1))
@click.option("--full", is_flag=True, help="Show the whole merged answer, not only its summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def merge_command(conversation: int, full: bool, as_json: bool) -> None:
    """Write one merged answer from the kept answers of CONVERSATION's latest question."""
    from rich.console import Console

    from adapters.terminal.render import LiveProgress, batch_json, print_batch
    from core.domain import AnswerStatus, Platform

    settings = load_settings()
    console = Console(stderr=as_json)

    async def work(core: Core) -> int:
        await finish_interrupted(core)
        service = core.service
        latest = (await service.get_conversation(conversation, TERMINAL)).batches[-1]
        progress = LiveProgress(latest, console)
        service.subscribe(Platform.TERMINAL, progress.on_event)
        batch = await service.merge(latest.id, terminal_actor())
        batch = await wait_showing(service, progress, batch, live=console.is_terminal and not as_json)
        if as_json:
            click.echo(json.dumps(batch_json(batch), ensure_ascii=False))
        else:
            print_batch(console, batch, full)
        merged = batch.merge
        return EXIT_OK if merged is not None and merged.status == AnswerStatus.COMPLETED else EXIT_FAILED

    sys.exit(run(lambda: with_core(settings, work)))


def read_question() -> str:
    """The question from standard input: a pipe, or typed and ended with Ctrl-D."""
    from core.domain import MAX_QUESTION_CHARS

    if sys.stdin.isatty():
        click.echo("Type the question, then Ctrl-D on a line of its own:", err=True)
    text = sys.stdin.read(MAX_QUESTION_CHARS * 4).strip()  # past the limit, the service says how long it is
    if not text:
        raise click.UsageError("the question from standard input is empty.")
    return text


async def finish_interrupted(core: Core) -> None:
    """Questions an interrupted run left unfinished are finished now (by `wait_idle`), and said so."""
    from core.errors import ConsensusError

    for batch_id in await core.fanout.resume_orphans():
        try:
            batch = await core.service.get_batch(batch_id, TERMINAL)
            which = f"conversation {batch.conversation_id}, “{batch.question[:60]}”"
        except ConsensusError:  # another workspace's, in a database shared with `serve`
            which = f"question {batch_id}, asked outside this terminal"
        click.echo(f"Finishing a question an interrupted run left unfinished: {which}.", err=True)


@main.command()
@click.option("--search", "query", metavar="WORDS", help="Full-text search over questions and answers.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True)
def history(query: str | None, limit: int, as_json: bool) -> None:
    """The conversations asked from this terminal, newest first."""
    settings = load_settings()

    async def work(core: Core) -> None:
        found = await core.service.history(TERMINAL, query, limit)
        if as_json:
            click.echo(
                json.dumps(
                    [
                        {
                            "id": s.id,
                            "title": s.title,
                            "by": s.created_by,
                            "updated_at": s.updated_at.isoformat(),
                            "questions": s.questions,
                            "models": s.models,
                            "selected": s.selected,
                            "snippet": s.snippet,
                        }
                        for s in found
                    ],
                    ensure_ascii=False,
                )
            )
            return
        if not found:
            click.echo("No conversations found." if query else "No conversations yet.")
        for s in found:
            line = f"{s.id:>6}  {s.updated_at:%Y-%m-%d %H:%M}  {s.title[:70]}"
            click.echo(line + (f"\n        … {s.snippet}" if s.snippet else ""))

    run(lambda: with_core(settings, work))


@main.command()
def where() -> None:
    """Where the database, the encryption key for stored API keys and the settings file are."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.encryption import VARIABLE, key_file

    settings = load_settings()
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    if settings.database_found_here:
        database += "  (found in this folder)"
    keys = key_file(settings)
    env_file = Path(".env").resolve()
    click.echo(f"database:        {database}")
    click.echo(
        "encryption key:  "
        + (f"{keys}" if keys else VARIABLE if settings.encryption_keys else f"none: set {VARIABLE} to store API keys")
    )
    click.echo(f"settings file:   {env_file if env_file.is_file() else 'none (.env in this folder is read)'}")


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (up to REVISION, default head)."""
    from core.store.migrate import upgrade

    settings = load_settings()
    run(lambda: _migrate(settings, lambda store: upgrade(store.engine, revision)))
    click.echo("Database is up to date.")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION ("base" removes everything)."""
    from core.store.migrate import downgrade

    settings = load_settings()
    run(lambda: _migrate(settings, lambda store: downgrade(store.engine, revision)))


async def _migrate(settings: Settings, action: Callable[[Store], Awaitable[Any]]) -> None:
    from core.errors import ConfigError
    from core.store.store import Store

    store = Store(settings.database_url)
    try:
        async with store.reachable():
            await action(store)
    except ConfigError as exc:
        raise ConfigError(f"DATABASE_URL: {exc}") from None
    finally:
        await store.aclose()


main.add_command(keys)
main.add_command(models)
main.add_command(show)
main.add_command(select)
main.add_command(leaderboard)
main.add_command(export)
main.add_command(stop)

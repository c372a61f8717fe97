"""The `consensus` command: serve the bots, ask from a terminal, browse history, manage the database."""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console

from adapters.terminal.render import LiveProgress, batch_json, print_batch
from bot.observability import setup_logging
from bot.settings import Settings
from bot.wiring import Core, build_core
from core.domain import AnswerStatus, Platform, Question, WorkspaceRef
from core.errors import ConfigError, ConsensusError
from core.store.migrate import downgrade, upgrade
from core.store.store import Store

T = TypeVar("T")
TERMINAL = WorkspaceRef(Platform.TERMINAL, "local")
EXIT_ANSWERED, EXIT_NONE_ANSWERED, EXIT_USAGE = 0, 1, 2


def load_settings(default_level: str = "WARNING") -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid configuration: {problems}") from None
    setup_logging(settings.log_level or default_level, settings.log_format, secrets=settings.secret_values(),
                  sdk_debug=settings.log_sdk_debug)
    return settings


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; core errors become a clear message and exit code 2."""
    try:
        return asyncio.run(main())
    except ConfigError as exc:
        click.echo(f"Configuration: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except ConsensusError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


async def with_core(settings: Settings, work: Callable[[Core], Awaitable[T]]) -> T:
    core = await build_core(settings)
    try:
        return await work(core)
    finally:
        await core.aclose()


@click.group()
@click.version_option(package_name="consensus")
def main() -> None:
    """Consensus: one question, several AI models, the best answer kept."""


@main.command()
def serve() -> None:
    """Run the Slack and/or Discord bot (whichever is configured)."""
    from bot.serve import serve as serve_forever

    settings = load_settings(default_level="INFO")
    run(lambda: serve_forever(settings))


@main.command()
@click.argument("question")
@click.option("--model", "models", multiple=True, metavar="PROVIDER/MODEL", help="Ask only these models.")
@click.option("--follow-up", "conversation", type=int, metavar="CONVERSATION_ID",
              help="Continue a conversation; the kept answers go back as context.")
@click.option("--full", is_flag=True, help="Show whole answers, not only summaries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def ask(question: str, models: tuple[str, ...], conversation: int | None, full: bool, as_json: bool) -> None:
    """Ask every configured model QUESTION at once and rank the answers."""
    settings = load_settings()
    if not models:
        try:
            settings.check_models()
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
    console = Console(stderr=as_json)

    async def work(core: Core) -> int:
        await core.fanout.resume_orphans()
        asked = Question(TERMINAL, "terminal", getpass.getuser(), question, models=models or None)
        service = core.service
        batch = await (service.follow_up(conversation, asked) if conversation else service.ask(asked))
        progress = LiveProgress(batch, console)
        service.subscribe(Platform.TERMINAL, progress.on_event)
        if console.is_terminal and not as_json:
            with progress.live:
                batch = await service.wait_for_batch(batch.id, TERMINAL)
        else:
            batch = await service.wait_for_batch(batch.id, TERMINAL)
        await service.wait_idle()  # resumed batches too
        if as_json:
            click.echo(json.dumps(batch_json(batch), ensure_ascii=False))
        else:
            print_batch(console, batch, full)
        answered = any(a.status == AnswerStatus.COMPLETED for a in batch.answers)
        return EXIT_ANSWERED if answered else EXIT_NONE_ANSWERED

    sys.exit(run(lambda: with_core(settings, work)))


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
            click.echo(json.dumps([{"id": s.id, "title": s.title, "by": s.created_by,
                                    "updated_at": s.updated_at.isoformat(), "questions": s.questions,
                                    "models": s.models, "selected": s.selected, "snippet": s.snippet}
                                   for s in found], ensure_ascii=False))
            return
        if not found:
            click.echo("No conversations found." if query else "No conversations yet.")
        for s in found:
            line = f"{s.id:>6}  {s.updated_at:%Y-%m-%d %H:%M}  {s.title[:70]}"
            click.echo(line + (f"\n        … {s.snippet}" if s.snippet else ""))

    run(lambda: with_core(settings, work))


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations (up to REVISION, default head)."""
    settings = load_settings()
    run(lambda: _migrate(settings, lambda store: upgrade(store.engine, revision)))
    click.echo("Database is up to date.")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Undo migrations down to REVISION ("base" removes everything)."""
    settings = load_settings()
    run(lambda: _migrate(settings, lambda store: downgrade(store.engine, revision)))


async def _migrate(settings: Settings, action: Callable[[Store], Awaitable[Any]]) -> None:
    store = Store(settings.database_url)
    try:
        await action(store)
    finally:
        await store.aclose()


from bot.cli_keys import keys, models  # noqa: E402  (they use the helpers above)

main.add_command(keys)
main.add_command(models)

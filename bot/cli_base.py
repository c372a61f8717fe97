"""What every `consensus` command shares: reading the settings, running a coroutine with clear errors,
and building the core around a piece of work.

Commands import the settings, the core and the SDKs inside their bodies, never at the top of a
module: `consensus --help` must not pay the second it takes to import them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from core.domain import Platform, WorkspaceRef

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.wiring import Core

T = TypeVar("T")
TERMINAL = WorkspaceRef(Platform.TERMINAL, "local")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # ask: 1 when no model answered


class ConfigurationProblem(click.ClickException):
    """A setting that cannot work: one line naming it, exit 2, before anything starts."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"Configuration: {self.message}", err=True)


def consensus_command() -> str:
    """`consensus` as it can be typed here, for messages that tell a command to run: the plain name
    when PATH finds this installation's command, else its path (after `make run` it is in .venv/bin,
    which is not on PATH)."""
    installed = Path(os.path.abspath(sys.executable)).parent / "consensus"  # console scripts sit beside it
    if not installed.exists():  # running from a source tree that was never installed
        return shlex.join([sys.executable, "-m", "bot"])
    found = shutil.which("consensus")
    if found is not None and Path(found).resolve() == installed.resolve():
        return "consensus"
    try:
        relative = installed.relative_to(Path.cwd())
    except ValueError:  # not below the current folder
        return shlex.quote(str(installed))
    # A path with no slash in it would be looked up on PATH, where it is not.
    return shlex.quote(str(relative) if relative.parent != Path(".") else f"./{relative}")


def load_settings(default_level: str = "WARNING") -> Settings:
    from pydantic import ValidationError

    from bot.observability import setup_logging
    from bot.settings import LEGACY_DATABASE, Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        raise ConfigurationProblem("; ".join(describe(error) for error in exc.errors())) from None
    setup_logging(
        settings.log_level or default_level,
        settings.log_format,
        secrets=settings.secret_values(),
        sdk_debug=settings.log_sdk_debug,
    )
    if settings.database_found_here:
        logging.getLogger("consensus").warning(
            "Using the database %s found in this folder; set CONSENSUS_HOME or DATABASE_URL to choose where "
            "it lives (`%s where` shows it).",
            LEGACY_DATABASE,
            consensus_command(),
        )
    return settings


def describe(error: Any) -> str:
    """A pydantic error as "SETTING: what was given and what is expected"; never a secret's value."""
    name = str(error["loc"][0]).upper() if error["loc"] else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if error["type"] != "value_error" and isinstance(given, str | int | float) and not _secret(name):
        message = f"{given!r} given; {message[0].lower()}{message[1:]}"
    return f"{name}: {message}"


def _secret(name: str) -> bool:
    return any(word in name for word in ("KEY", "TOKEN", "SECRET", "PASSWORD"))


def run(main: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; core errors become a clear message and exit code 2."""
    from core.errors import ConfigError, ConsensusError

    try:
        return asyncio.run(main())  # type: ignore[arg-type]  # a coroutine, typed loosely
    except ConfigError as exc:
        ConfigurationProblem(str(exc)).show()
        sys.exit(EXIT_USAGE)
    except ConsensusError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


async def with_core(settings: Settings, work: Callable[[Core], Awaitable[T]]) -> T:
    from bot.wiring import build_core

    core = await build_core(settings)
    try:
        return await work(core)
    finally:
        await core.aclose()

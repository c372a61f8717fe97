"""What every `consensus` command shares: reading the settings, running a coroutine with clear errors,
and building the core around a piece of work.

Commands import the settings, the core and the SDKs inside their bodies, never at the top of a
module: `consensus --help` must not pay the second it takes to import them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click

from core.domain import Platform, WorkspaceRef

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.wiring import Core

T = TypeVar("T")
TERMINAL = WorkspaceRef(Platform.TERMINAL, "local")
EXIT_ANSWERED, EXIT_NONE_ANSWERED, EXIT_USAGE = 0, 1, 2


def load_settings(default_level: str = "WARNING") -> Settings:
    from pydantic import ValidationError

    from bot.observability import setup_logging
    from bot.settings import Settings

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
    from core.errors import ConfigError, ConsensusError

    try:
        return asyncio.run(main())  # type: ignore[arg-type]  # a coroutine, typed loosely
    except ConfigError as exc:
        click.echo(f"Configuration: {exc}", err=True)
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

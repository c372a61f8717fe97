"""Running `consensus` inside the test process with click's CliRunner: no interpreter start and no SDK
imports per command. For the tests where the process boundary itself is not the point (signals, a
killed process and keys read from a real standard input keep real processes: see processes.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main


def _invoke(env: dict[str, str], args: tuple[str, ...], stdin: str | None, cwd: Path | None) -> tuple[int, str, str]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level  # the command sets up logging for the whole process
    unset = {name: None for name in os.environ if name not in env}  # the command sees `env` only
    # as in an activated virtual environment: the commands it prints are plain `consensus …`
    env = {**env, "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", os.defpath)])}
    try:
        with pytest.MonkeyPatch.context() as patch:
            if cwd is not None:
                patch.chdir(cwd)
            result = CliRunner().invoke(main, args, input=stdin, env={**unset, **env})
    finally:
        root.handlers[:], root.level = saved
    err = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        err += "".join(traceback.format_exception(*result.exc_info))  # as a real process would print it
    return result.exit_code, result.stdout, err


async def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> tuple[int, str, str]:
    """(exit code, standard output, standard error). The command runs its own event loop, so it runs in
    a thread while this loop keeps serving the fakes."""
    return await asyncio.to_thread(_invoke, env, args, stdin, cwd)

"""`consensus serve`: migrate, resume unfinished questions, run each configured platform until
SIGTERM or Ctrl-C, then stop taking questions and let the running ones finish."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from bot.settings import Settings
from bot.wiring import build_core

log = logging.getLogger(__name__)
SHUTDOWN_DEADLINE = 25.0

NOTHING_TO_SERVE = """\
The database is ready ({url}), but no chat platform is configured yet.
Set, in the environment or in .env:
  Slack (HTTP):        SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET  (served on PORT at /slack/events)
  Slack (Socket Mode): SLACK_BOT_TOKEN and SLACK_APP_TOKEN
  Discord:             DISCORD_TOKEN  (optionally DISCORD_GUILD_IDS for instant command sync)
and the models that answer:
  CONSENSUS_MODELS=anthropic/claude-sonnet-4-5,openai/gpt-5-mini  with ANTHROPIC_API_KEY, OPENAI_API_KEY
Meanwhile `consensus ask "your question"` works in this terminal."""


async def serve(settings: Settings) -> None:
    core = await build_core(settings)
    try:
        platforms = []  # started platform bots, each with an async stop()
        if not platforms:
            click.echo(NOTHING_TO_SERVE.format(url=settings.database_url))
            return
        settings.check_models()
        resumed = await core.fanout.resume_orphans()
        if resumed:
            log.info("resumed %d unfinished questions", len(resumed))
        await wait_for_stop_signal()
    finally:
        await core.aclose(deadline=SHUTDOWN_DEADLINE)


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: finishing the questions in flight")

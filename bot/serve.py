"""`consensus serve`: migrate, resume unfinished questions, run each configured platform until
SIGTERM or Ctrl-C, then stop taking questions and let the running ones finish."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from typing import Any

import click

from adapters.discord.client import build_discord_bot
from adapters.slack.app import build_slack_app
from bot.settings import Settings
from bot.wiring import Core, build_core

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


def secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


async def start_platforms(settings: Settings, core: Core) -> list[Any]:
    """Start every configured platform; each has `stop_intake()` and `stop()`."""
    running: list[Any] = []
    if settings.slack_bot_token:
        slack = build_slack_app(
            core.service, bot_token=secret(settings.slack_bot_token),
            signing_secret=secret(settings.slack_signing_secret), api_url=settings.slack_api_url,
            command=settings.slack_command, app_token=secret(settings.slack_app_token) or None)
        await slack.start(settings.host, settings.port)
        running.append(slack)
    if settings.discord_token:
        discord_bot = build_discord_bot(
            core.service, token=secret(settings.discord_token), api_base=settings.discord_api_base,
            gateway_url=settings.discord_gateway_url, guild_ids=settings.guild_ids,
            message_content=settings.discord_message_content)
        await discord_bot.launch()
        running.append(discord_bot)
    return running


async def serve(settings: Settings) -> None:
    if not (settings.slack_bot_token or settings.discord_token):
        core = await build_core(settings)  # migrates the embedded database all the same
        await core.aclose()
        click.echo(NOTHING_TO_SERVE.format(url=settings.database_url))
        return
    settings.check_models()
    stop = stop_signal()  # first: a SIGTERM during start-up also stops gracefully
    core = await build_core(settings)
    running: list[Any] = []
    try:
        running = await start_platforms(settings, core)
        resumed = await core.fanout.resume_orphans()
        if resumed:
            log.info("resumed %d unfinished questions", len(resumed))
        await stop.wait()
        log.info("stopping: finishing the questions in flight")
        for platform in running:
            stopped = platform.stop_intake()
            if inspect.isawaitable(stopped):
                await stopped
        await core.fanout.stop(SHUTDOWN_DEADLINE)  # the cards of questions in flight still update
    finally:
        for platform in reversed(running):
            await platform.stop()
        await core.aclose()


def stop_signal() -> asyncio.Event:
    """An event set by SIGTERM or Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop

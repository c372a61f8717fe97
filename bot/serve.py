"""`consensus serve`: migrate, resume unfinished questions, run each configured platform until
SIGTERM or Ctrl-C, then stop taking questions and let the running ones finish.

Several replicas may share one PostgreSQL database: each sweeps for batches whose lease ran out
(a replica died) every half lease, and claims them with SKIP LOCKED, so exactly one finishes them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from typing import Any

import click

from adapters.discord.client import build_discord_bot
from adapters.slack.app import build_slack_app
from bot.health import Health
from bot.metrics import PrometheusMetrics
from bot.settings import Settings
from bot.wiring import Core, build_core
from core.fanout import FanOut

log = logging.getLogger(__name__)

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


def slack_http(settings: Settings) -> bool:
    return bool(settings.slack_bot_token) and not settings.slack_app_token


async def start_platforms(settings: Settings, core: Core, health: Health, metrics: PrometheusMetrics,
                          running: list[Any]) -> None:
    """Start every configured platform into `running` (each has `stop_intake()` and `stop()`)."""
    if settings.slack_bot_token:
        slack = build_slack_app(
            core.service, bot_token=secret(settings.slack_bot_token),
            signing_secret=secret(settings.slack_signing_secret), api_url=settings.slack_api_url,
            command=settings.slack_command, app_token=secret(settings.slack_app_token) or None, metrics=metrics)
        routes = health.routes() if slack_http(settings) else ()  # one port: Slack, health and metrics
        await slack.start(settings.host, settings.port, routes=routes)
        running.append(slack)
        health.checks["slack"] = slack.ready
    if settings.discord_token:
        discord_bot = build_discord_bot(
            core.service, token=secret(settings.discord_token), api_base=settings.discord_api_base,
            gateway_url=settings.discord_gateway_url, guild_ids=settings.guild_ids,
            message_content=settings.discord_message_content, shard_count=settings.discord_shard_count,
            shard_ids=settings.shard_ids, metrics=metrics)
        running.append(discord_bot)

        async def discord_ready() -> str | None:
            return discord_bot.ready_problem()

        health.checks["discord"] = discord_ready
        await discord_bot.launch()


async def sweep_orphans(fanout: FanOut, interval: float) -> None:
    """Finish, on this replica, the batches a dead one left behind (their lease ran out)."""
    while True:
        await asyncio.sleep(interval)
        try:
            resumed = await fanout.resume_orphans()
        except Exception:  # the database may be briefly away; the next sweep tries again
            log.warning("could not look for unfinished questions", exc_info=True)
            continue
        if resumed:
            log.info("took over %d unfinished questions: batches %s", len(resumed), resumed)


async def serve(settings: Settings) -> None:
    if not (settings.slack_bot_token or settings.discord_token):
        core = await build_core(settings)  # migrates the embedded database all the same
        await core.aclose()
        click.echo(NOTHING_TO_SERVE.format(url=settings.database_url))
        return
    settings.check_models()
    stop = stop_signal()  # first: a SIGTERM during start-up also stops gracefully
    metrics = PrometheusMetrics()
    core = await build_core(settings, metrics=metrics, warm=True)
    metrics.track_in_flight(lambda: core.fanout.in_flight)
    health = Health(core.store, metrics)
    running: list[Any] = []
    sweeper: asyncio.Task[None] | None = None
    try:
        if not slack_http(settings):
            await health.start(settings.host, settings.port)
        await start_platforms(settings, core, health, metrics, running)
        resumed = await core.fanout.resume_orphans()
        if resumed:
            log.info("resumed %d unfinished questions", len(resumed))
        sweeper = asyncio.create_task(sweep_orphans(core.fanout, settings.consensus_lease_seconds / 2))
        await stop.wait()
        log.info("stopping: finishing the questions in flight (up to %g s)", settings.consensus_shutdown_seconds)
        health.draining = True  # /readyz turns 503: the load balancer sends new requests elsewhere
        sweeper.cancel()
        for platform in running:  # new questions now get "restarting"; clicks still work
            stopped = platform.stop_intake()
            if inspect.isawaitable(stopped):
                await stopped
        # the cards of questions in flight still update; leases of unfinished ones are released
        await core.fanout.stop(settings.consensus_shutdown_seconds)
    finally:
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        for platform in reversed(running):
            await platform.stop()
        await health.stop()
        await core.aclose()


def stop_signal() -> asyncio.Event:
    """An event set by SIGTERM or Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop

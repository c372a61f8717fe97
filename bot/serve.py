"""`consensus serve`: migrate, connect each configured platform, resume unfinished questions, serve
until SIGTERM or Ctrl-C, then stop taking questions and let the running ones finish.

SIGTERM and Ctrl-C stop it in every state: connecting, retrying, serving. Start-up runs as one task
raced against the stop signal, so a platform still connecting is cancelled where it waits; stopping
then takes at most CONSENSUS_SHUTDOWN_SECONDS for the questions in flight, plus CLOSE_SECONDS.

Several replicas may share one PostgreSQL database: each sweeps for batches whose lease ran out
(a replica died) every half lease, and claims them with SKIP LOCKED, so exactly one finishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import inspect
import logging
import signal
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy.engine import make_url

from bot.cli_base import consensus_command
from bot.health import Check, Health
from bot.metrics import PrometheusMetrics
from bot.settings import Settings
from bot.wiring import Core, build_core
from core.errors import ConfigError
from core.fanout import FanOut

log = logging.getLogger(__name__)
CLOSE_SECONDS = 3.0  # after the questions in flight: closing every connection, within the 5 s promised

NOTHING_TO_SERVE = """\
The database is ready ({url}), but no chat platform is configured yet.
Set, in the environment or in .env:
  Slack (HTTP):        SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET  (served on PORT at /slack/events)
  Slack (Socket Mode): SLACK_BOT_TOKEN and SLACK_APP_TOKEN
  Discord:             DISCORD_TOKEN  (optionally DISCORD_GUILD_IDS for instant command sync)
and the models that answer:
  CONSENSUS_MODELS=anthropic/claude-sonnet-4-5,openai/gpt-5-mini  with ANTHROPIC_API_KEY, OPENAI_API_KEY
Meanwhile `{consensus} ask "your question"` works in this terminal."""


def secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


def slack_http(settings: Settings) -> bool:
    return bool(settings.slack_bot_token) and not settings.slack_app_token


def nothing_to_serve(settings: Settings) -> str:
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    return NOTHING_TO_SERVE.format(url=url, consensus=consensus_command())


@dataclass
class ChatPlatform:
    name: str
    bot: Any  # SlackBot or ConsensusBot: stop_intake() and stop()
    connect: Callable[[], Coroutine[Any, Any, None]]  # returns once connected and its token accepted
    ready: Check  # None when connected, else why not
    ended: Callable[[], Coroutine[Any, Any, None]] | None = None  # raises once the connection ended for good


def build_platforms(settings: Settings, core: Core, health: Health, metrics: PrometheusMetrics) -> list[ChatPlatform]:
    """Every configured platform, built but not connected yet."""
    platforms = []
    if settings.slack_bot_token:
        from adapters.slack.app import build_slack_app  # each platform's library only when configured

        slack = build_slack_app(
            core.service,
            bot_token=secret(settings.slack_bot_token),
            signing_secret=secret(settings.slack_signing_secret),
            api_url=settings.slack_api_url,
            command=settings.slack_command,
            app_token=secret(settings.slack_app_token) or None,
            metrics=metrics,
        )
        routes = health.routes() if slack_http(settings) else ()  # one port: Slack, health and metrics
        start = partial(slack.start, settings.host, settings.port, routes=routes)
        platforms.append(ChatPlatform("slack", slack, start, slack.ready))
    if settings.discord_token:
        from adapters.discord.client import build_discord_bot

        discord_bot = build_discord_bot(
            core.service,
            token=secret(settings.discord_token),
            api_base=settings.discord_api_base,
            gateway_url=settings.discord_gateway_url,
            guild_ids=settings.guild_ids,
            message_content=settings.discord_message_content,
            shard_count=settings.discord_shard_count,
            shard_ids=settings.shard_ids,
            metrics=metrics,
        )

        async def discord_ready() -> str | None:
            return discord_bot.ready_problem()

        platforms.append(ChatPlatform("discord", discord_bot, discord_bot.launch, discord_ready, discord_bot.ended))
    return platforms


async def connect_all(platforms: list[ChatPlatform]) -> None:
    """Connect every platform at once, so one that cannot be reached holds back no other; the first
    that fails for good (a rejected token) cancels the rest."""
    tasks = [asyncio.create_task(p.connect(), name=f"connect-{p.name}") for p in platforms]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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


async def connect_then_sweep(settings: Settings, core: Core, platforms: list[ChatPlatform]) -> None:
    """Connect, resume the questions a stopped process left unfinished, then sweep for more; forever.
    The SDKs load once the platforms are connected: sharing the interpreter with the connecting would
    slow it down, and a question that arrives before they are loaded waits without blocking the loop."""
    await connect_all(platforms)
    core.warm()
    resumed = await core.fanout.resume_orphans()
    if resumed:
        log.info("resumed %d unfinished questions", len(resumed))
    sweeping = sweep_orphans(core.fanout, settings.consensus_lease_seconds / 2)
    ended = [p.ended() for p in platforms if p.ended is not None]  # a platform lost for good stops the server
    await until_one_fails(freeze_when_loaded(core), sweeping, *ended)


async def until_one_fails(*work: Coroutine[Any, Any, None]) -> None:
    """Run `work` together; the first error cancels the rest and is raised."""
    tasks = [asyncio.create_task(each) for each in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()  # raises the error of the one that failed
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def freeze_when_loaded(core: Core) -> None:
    """Once the SDKs are loaded, what exists lives as long as the process: it leaves the garbage
    collector's view (gc.freeze). Its full collections walked those hundreds of thousands of objects,
    pausing every question and card for 70-300 ms in a burst; now they walk what questions make.
    Collection is off until then (`consensus serve` turns it off before its imports)."""
    try:
        await core.registry.loaded()
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()


async def until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> None:
    """Run `work` until `stop` is set, then cancel it wherever it is (connecting, retrying, serving).
    An error of its own (a rejected token) is raised."""
    task = asyncio.create_task(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        task.cancel()
        await asyncio.gather(task, stopping, return_exceptions=True)
    if not task.cancelled():
        task.result()


async def drain(settings: Settings, core: Core, health: Health, platforms: list[ChatPlatform]) -> None:
    """Stop taking questions; let those in flight finish within CONSENSUS_SHUTDOWN_SECONDS."""
    log.info("stopping: finishing the questions in flight (up to %g s)", settings.consensus_shutdown_seconds)
    health.draining = True  # /readyz turns 503: the load balancer sends new requests elsewhere
    for platform in platforms:  # new questions now get "restarting"; clicks still work
        stopped = platform.bot.stop_intake()
        if inspect.isawaitable(stopped):
            await stopped
    # the cards of questions in flight still update; leases of unfinished ones are released
    await core.fanout.stop(settings.consensus_shutdown_seconds)


async def close_platforms(platforms: list[ChatPlatform]) -> None:
    """Close every platform at once; one that takes longer than CLOSE_SECONDS is left to the exit."""
    closing = {asyncio.create_task(p.bot.stop()): p.name for p in platforms}
    if not closing:
        return
    _, late = await asyncio.wait(closing, timeout=CLOSE_SECONDS)
    for task in late:
        log.warning("stopping: %s did not close within %g s", closing[task], CLOSE_SECONDS)
        task.cancel()
    for task, name in closing.items():
        await asyncio.gather(task, return_exceptions=True)
        if not task.cancelled() and task.exception() is not None:
            log.error("stopping: %s failed to close", name, exc_info=task.exception())


async def serve(settings: Settings) -> None:
    if not (settings.slack_bot_token or settings.discord_token):
        core = await build_core(settings)  # migrates the embedded database all the same
        await core.aclose()
        raise ConfigError(nothing_to_serve(settings))
    settings.check_models()
    stop = stop_signal()  # first: a SIGTERM during start-up also stops gracefully
    metrics = PrometheusMetrics()
    core = await build_core(settings, metrics=metrics)
    metrics.track_in_flight(lambda: core.fanout.in_flight)
    health = Health(core.store, metrics)
    platforms: list[ChatPlatform] = []
    try:
        platforms = build_platforms(settings, core, health, metrics)
        for platform in platforms:  # before any connects: /readyz is 503 until every one is connected
            health.checks[platform.name] = platform.ready
        with port_named(settings):
            if not slack_http(settings):
                await health.start(settings.host, settings.port)
            await until_stopped(connect_then_sweep(settings, core, platforms), stop)
        await drain(settings, core, health, platforms)
    finally:
        await close_platforms(platforms)
        await health.stop()
        await core.aclose()


@contextlib.contextmanager
def port_named(settings: Settings) -> Iterator[None]:
    """A port that cannot be listened on is a setting to change, not a traceback."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        raise ConfigError(
            f"PORT: cannot listen on {settings.host}:{settings.port} ({exc.strerror}); "
            "set PORT (or HOST) to a free address."
        ) from None


def stop_signal() -> asyncio.Event:
    """An event set by SIGTERM or Ctrl-C."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop

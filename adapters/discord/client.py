"""The Discord bot: a discord.Client with a CommandTree, wired to the ConsensusService.

bot = build_discord_bot(service, token=..., guild_ids=(...,))
await bot.launch()              # logs in and connects (retrying while Discord is unreachable)
...
await bot.stop()                # sends the queued edits, closes, waits
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.backoff import ExponentialBackoff
from discord.gateway import DiscordWebSocket
from discord.utils import MISSING

from adapters.calltrace import call_trace
from adapters.connecting import describe, one_line
from adapters.discord.cards import Board
from adapters.discord.commands import Handlers
from adapters.discord.confirm import ConfirmButton
from adapters.discord.keys import KeyCommands
from adapters.discord.leaderboard import LeaderboardCommand
from adapters.discord.pacing import ChannelPacer
from adapters.discord.settings import ModelsSelect, SettingsCommands
from adapters.discord.views import CardButton
from adapters.presenter.actions import Click
from adapters.retrying import Backoff
from core.domain import Platform
from core.errors import ConfigError, ConsensusError
from core.metrics import Metrics, NoMetrics
from core.service import ConsensusService

log = logging.getLogger(__name__)
DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"
CLOSE_GRACE = 5.0
NOT_CONNECTED = "Discord not connected yet"
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")  # the ack of an interaction
UNREACHABLE = (OSError, aiohttp.ClientError, TimeoutError, discord.DiscordServerError)

# discord.py 2.7 cannot retry a first gateway connection that fails: its retry reads the previous
# session (`self.ws`, still None) and the task dies on an AttributeError (Rapptz/discord.py#10520).
# ConsensusBot retries that one itself; this tells the log filter which bot is in that state.
_first_connection: ContextVar[ConsensusBot | None] = ContextVar("discord_first_connection", default=None)


class _OneLineReconnects(logging.Filter):
    """discord.py logs each reconnect attempt at ERROR with a traceback; one WARNING line naming the
    error (and discord.py's own next delay, already in the message) says it all."""

    RECONNECTS = ("Attempting a reconnect", "Failed to connect for shard_id")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not str(record.msg).startswith(self.RECONNECTS):
            return True
        bot = _first_connection.get()
        if bot is not None and bot.ws is None:
            return False  # ConsensusBot._connect_gateway reports this attempt itself
        why = describe(record.exc_info[1])
        return one_line(record, f"Discord: {record.getMessage()} ({why})")


_ONE_LINE_RECONNECTS = _OneLineReconnects()


def quiet_reconnect_tracebacks() -> None:
    for name in ("discord.client", "discord.shard"):
        library_log = logging.getLogger(name)
        if _ONE_LINE_RECONNECTS not in library_log.filters:
            library_log.addFilter(_ONE_LINE_RECONNECTS)


def configure_endpoints(api_base: str | None = None, gateway_url: str | yarl.URL | None = None) -> tuple[str, yarl.URL]:
    """Point discord.py's two process-wide seams at `api_base` / `gateway_url` (None: Discord's own).

    Returns the previous values so a test can restore them.
    """
    before = (discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    discord.http.Route.BASE = (api_base or DEFAULT_API_BASE).rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url or DEFAULT_GATEWAY)
    return before


def intents_for(message_content: bool) -> discord.Intents:
    """Interactions need no intent; `guilds` keeps channels and threads cached. Plain replies in a
    thread need `guild_messages` and the privileged `message_content` intent."""
    intents = discord.Intents.none()
    intents.guilds = True
    if message_content:
        intents.guild_messages = True
        intents.message_content = True
    return intents


class ConsensusBot(discord.Client):
    def __init__(
        self,
        service: ConsensusService,
        *,
        token: str,
        guild_ids: Iterable[int | str] = (),
        message_content: bool = False,
        sync_commands: bool = True,
        edit_retry: Backoff | None = None,
        metrics: Metrics | None = None,
        **client_options: Any,
    ) -> None:
        self.metrics: Metrics = metrics or NoMetrics()
        self._received: dict[int, float] = {}  # interaction id -> when it arrived
        super().__init__(
            intents=intents_for(message_content),
            allowed_mentions=discord.AllowedMentions.none(),
            http_trace=call_trace("discord", self.metrics, self._on_api_response),
            **client_options,
        )
        self.token = token
        self.service = service
        self.guild_ids = tuple(int(g) for g in guild_ids)
        self.message_content = message_content
        self.sync_commands = sync_commands
        self.tree: app_commands.CommandTree[ConsensusBot] = app_commands.CommandTree(self)
        self.pacer = ChannelPacer(edit_retry)
        self.board = Board(self, service, self.pacer)
        self.handlers = Handlers(service, self.board)
        self.handlers.register(self.tree)
        self.key_commands = KeyCommands(service)
        self.key_commands.register(self.tree)
        self.settings_commands = SettingsCommands(service)
        self.settings_commands.register(self.tree)
        LeaderboardCommand(service).register(self.tree)
        self.ready_event = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._waiting = NOT_CONNECTED  # why not ready yet (login or first connection failing)
        service.subscribe(Platform.DISCORD.value, self.board.live.on_event, delivers=True)
        quiet_reconnect_tracebacks()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CardButton, ModelsSelect, ConfirmButton)
        if not self.sync_commands:
            return
        if self.guild_ids:
            for guild_id in self.guild_ids:  # guild commands show up at once
                guild = discord.Object(id=guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()  # global: may take a while to reach every client
        log.info("discord: commands synced to %s", list(self.guild_ids) or "all guilds")

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        self._received[interaction.id] = time.monotonic()
        if interaction.type == discord.InteractionType.modal_submit:  # our modals are stateless
            await self.key_commands.submitted(interaction)

    def _on_api_response(self, _verb: str, path: str) -> None:
        acked = _CALLBACK.search(path)
        received = self._received.pop(int(acked.group(1)), None) if acked else None
        if received is not None:
            self.metrics.ack_latency("discord", "interaction", time.monotonic() - received)

    def ready_problem(self) -> str | None:
        """None while connected to the gateway; else why not (for the readiness check)."""
        if self.is_closed():
            return "Discord connection closed"
        if not self.is_ready():
            return self._waiting
        return None if self.gateway_open() else "Discord gateway disconnected; reconnecting"

    def gateway_open(self) -> bool:
        return self.ws is not None and self.ws.open

    async def on_ready(self) -> None:
        log.info("discord: connected as %s to %d guild(s)", self.user, len(self.guilds))
        self.ready_event.set()

    async def on_message(self, message: discord.Message) -> None:
        if self.message_content:
            await self.handlers.message(message)

    async def on_card_click(self, interaction: discord.Interaction[Any], click: Click) -> None:
        await self.handlers.click(interaction, click)

    async def on_confirm_click(self, interaction: discord.Interaction[Any], ask: bool, nonce: str) -> None:
        await self.handlers.confirmed(interaction, ask, nonce)

    async def on_models_chosen(self, interaction: discord.Interaction[Any], where: str) -> None:
        await self.settings_commands.chosen(interaction, where)

    async def launch(self, ready_timeout: float | None = None) -> None:
        """Log in and connect; return once the gateway session is ready (or after `ready_timeout`
        seconds, still connecting in the background). While Discord cannot be reached this retries,
        with backoff; a rejected token or intent is a ConfigError naming its setting."""
        self._runner = asyncio.create_task(self._run(), name="discord-bot")
        ready = asyncio.create_task(self.ready_event.wait())
        try:
            await asyncio.wait({self._runner, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if self._runner.done() and not self._runner.cancelled():
            self._raise_why_it_ended(self._runner)

    async def ended(self) -> None:
        """Wait while connected (discord.py reconnects by itself). Discord may end the session for
        a reason reconnecting cannot mend (the token was reset, an intent or sharding is now
        required); the client then stops for good, and this raises why."""
        assert self._runner is not None, "launch first"
        await asyncio.wait({self._runner})
        if self._runner.cancelled():
            return  # stopped here
        self._raise_why_it_ended(self._runner)
        raise ConsensusError("The connection to Discord was closed; the bot is no longer connected.")

    @staticmethod
    def _raise_why_it_ended(runner: asyncio.Task[None]) -> None:
        try:
            runner.result()
        except discord.LoginFailure as exc:
            raise ConfigError("Discord rejected DISCORD_TOKEN; copy the bot token again.") from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise ConfigError(
                "DISCORD_MESSAGE_CONTENT is on, but the Message Content intent is not "
                "enabled for this application in the Developer Portal."
            ) from exc
        except discord.ConnectionClosed as exc:
            if exc.code == 4004:  # the gateway's "authentication failed"
                raise ConfigError("Discord rejected DISCORD_TOKEN; copy the bot token again.") from exc
            if exc.code == 4011:  # the gateway's "sharding required"
                raise ConfigError(
                    "Discord requires this bot to connect in shards (it is in too many servers for "
                    "one connection); set DISCORD_SHARD_COUNT."
                ) from exc
            raise ConsensusError(f"Discord ended the bot's session for good (close code {exc.code}).") from exc

    async def _run(self) -> None:
        await self._log_in()
        await self._connect_gateway()

    async def _log_in(self) -> None:
        """`login` until Discord answers: while it cannot be reached, wait with discord.py's backoff."""
        backoff = ExponentialBackoff()
        while True:
            try:
                await self.login(self.token)
                return
            except UNREACHABLE as exc:
                why = f"cannot reach the API ({describe(exc)})"
            # Each login opens a new HTTP session; close the failed one (which closes its connector,
            # so the next login must build a new one, as the first did).
            await self.http.close()
            self.http.connector = MISSING
            await self._retry_in(why, backoff.delay())

    async def _connect_gateway(self) -> None:
        """discord.py's `connect`, which reconnects by itself once it had a session; before that
        (see `_first_connection`) its loop dies after one failed attempt, so it is started again."""
        _first_connection.set(self)  # this task's context only
        backoff = ExponentialBackoff()
        while True:
            try:
                await self.connect()
                return
            except AttributeError as exc:
                if self.ws is not None or self.is_closed():
                    raise
                why = f"cannot reach the gateway ({describe(exc.__context__)})"
            await self._retry_in(why, backoff.delay())

    async def _retry_in(self, why: str, delay: float) -> None:
        self._waiting = f"Discord: {why}; retrying"
        log.warning("Discord: %s; next attempt in %.1f s", why, delay)
        await asyncio.sleep(delay)

    def stop_intake(self) -> None:
        """Refuse new questions (politely); buttons and the questions in flight keep working."""
        self.handlers.accepting = False

    async def stop(self) -> None:
        """Close the connection (sending the edits still queued) and end the client, wherever it is:
        connected, or waiting before its next attempt to log in or reconnect."""
        await self.close()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until every question's cards are posted and every queued edit was sent (tests and shutdown)."""
        await self.board.live.settle()
        await asyncio.gather(*(live.posted.wait() for live in list(self.board.live.batches.values())))
        await self.pacer.drain()

    async def close(self) -> None:
        try:  # let the last edits out, briefly
            await asyncio.wait_for(self.board.live.settle(), CLOSE_GRACE)
            await asyncio.wait_for(self.pacer.drain(), CLOSE_GRACE)
        except TimeoutError:
            log.warning("discord: closing with message edits still queued")
        await self.pacer.aclose()
        await super().close()


class ShardedConsensusBot(ConsensusBot, discord.AutoShardedClient):
    """Several shards in one process (`shard_ids`), or all of them."""

    def gateway_open(self) -> bool:
        return all(not shard.is_closed() for shard in self.shards.values())

    async def _connect_gateway(self) -> None:
        await self.connect()  # AutoShardedClient retries each shard's first connection itself


def build_discord_bot(
    service: ConsensusService,
    *,
    token: str,
    api_base: str | None = None,
    gateway_url: str | None = None,
    guild_ids: Iterable[int | str] = (),
    message_content: bool = False,
    shard_count: int | None = None,
    shard_ids: Iterable[int] = (),
    **options: Any,
) -> ConsensusBot:
    """Build the bot. `api_base`/`gateway_url` override Discord's endpoints (proxies, tests).

    Sharding: with `shard_count`, this process runs the shards in `shard_ids` (all when empty);
    only the process with shard 0 syncs the slash commands.
    Extra options go to ConsensusBot / discord.Client (e.g. `edit_retry`, `guild_ready_timeout`).
    """
    if api_base is not None or gateway_url is not None:
        configure_endpoints(api_base, gateway_url)
    shards = tuple(shard_ids)
    if shard_count is None:
        if shards:
            raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total number of shards).")
        return ConsensusBot(service, token=token, guild_ids=guild_ids, message_content=message_content, **options)
    if shard_count < 1 or any(not 0 <= s < shard_count for s in shards):
        raise ConfigError(f"DISCORD_SHARD_IDS must be between 0 and DISCORD_SHARD_COUNT - 1 ({shard_count - 1}).")
    if shards and 0 not in shards:
        options["sync_commands"] = False
    if len(shards) == 1:
        return ConsensusBot(
            service,
            token=token,
            guild_ids=guild_ids,
            message_content=message_content,
            shard_id=shards[0],
            shard_count=shard_count,
            **options,
        )
    return ShardedConsensusBot(
        service,
        token=token,
        guild_ids=guild_ids,
        message_content=message_content,
        shard_count=shard_count,
        shard_ids=list(shards) or None,
        **options,
    )

"""Build and run the Slack app: one Bolt AsyncApp, one shared AsyncWebClient, HTTP or Socket Mode.

    bot = build_slack_app(service, bot_token=..., signing_secret=..., api_url="https://slack.com/api/")
    await bot.start("0.0.0.0", 3000)      # HTTP: POST /slack/events; Socket Mode if app_token is set
    ...
    await bot.stop_intake()               # new questions get "restarting"; running questions still render
    await bot.stop()                      # closes the server or socket, flushes card updates, closes HTTP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.calltrace import call_trace
from adapters.slack.handlers import SlackHandlers
from adapters.slack.pacing import Pacer, Pacing, RateLimitNotifier
from adapters.slack.people import People
from adapters.slack.render import ThreadRenderer
from core.domain import Platform
from core.errors import ConfigError
from core.events import Event
from core.metrics import Metrics, NoMetrics
from core.service import ConsensusService

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
LISTENER_GRACE = 10.0  # at shutdown, how long a listener may still take to post its cards
SOCKET_KINDS = {"slash_commands": "command", "interactive": "interaction", "events_api": "event"}


def request_kind(body: dict[str, Any]) -> str:
    if "command" in body:
        return "command"
    return "event" if body.get("type") in ("event_callback", "url_verification") else "interaction"


class _TimedSocketHandler(AsyncSocketModeHandler):
    """Socket Mode, reporting how long each envelope took to be acknowledged."""

    metrics: Metrics = NoMetrics()

    async def handle(self, client: Any, req: Any) -> None:
        started = time.monotonic()
        await super().handle(client, req)
        self.metrics.ack_latency("slack", SOCKET_KINDS.get(req.type, "event"), time.monotonic() - started)


class SlackBot:
    """The running Slack side of Consensus."""

    def __init__(self, app: AsyncApp, client: AsyncWebClient, pacer: Pacer, renderer: ThreadRenderer,
                 *, app_token: str | None = None, handlers: SlackHandlers | None = None,
                 metrics: Metrics | None = None) -> None:
        self.app, self.client, self.pacer, self.renderer = app, client, pacer, renderer
        self.app_token = app_token
        self.handlers = handlers
        self.metrics: Metrics = metrics or NoMetrics()
        self.port: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._stopped = False

    @property
    def mode(self) -> str:
        return "socket" if self.app_token else "http"

    def web_app(self, routes: Iterable[web.RouteDef] = ()) -> web.Application:
        """The aiohttp application serving Slack's requests at /slack/events (HTTP mode), plus
        `routes` (the bot's health and metrics), so one port serves everything."""
        async def events(request: web.Request) -> web.Response:
            started = time.monotonic()
            bolt_request = await to_bolt_request(request)
            response = await self.app.async_dispatch(bolt_request)  # returns once the listener acked
            if response.status == 200:
                self.metrics.ack_latency("slack", request_kind(bolt_request.body), time.monotonic() - started)
            return await to_aiohttp_response(response)

        async def health(_: web.Request) -> web.Response:
            return web.json_response({"ok": True, "mode": self.mode})

        application = web.Application()
        application.router.add_post(EVENTS_PATH, events)
        application.router.add_get("/slack/health", health)
        application.add_routes(list(routes))
        return application

    async def start(self, host: str = "0.0.0.0", port: int = 3000, *, routes: Iterable[web.RouteDef] = ()) -> None:
        """HTTP mode: serve on host:port (port 0 picks a free one, see `.port`). Socket Mode: connect."""
        self._session = aiohttp.ClientSession(trace_configs=[call_trace("slack", self.metrics)])
        self.client.session = self._session
        if self.app_token:
            self._socket = _TimedSocketHandler(self.app, self.app_token, web_client=self.client)
            self._socket.metrics = self.metrics
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected in Socket Mode")
            return
        self._runner = web.AppRunner(self.web_app(routes), shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Slack: serving %s on %s:%s", EVENTS_PATH, host, self.port)

    async def ready(self) -> str | None:
        """None when Slack can reach us (HTTP server up, or socket connected); else why not."""
        if self._socket is not None:
            return None if await self._socket.client.is_connected() else "Slack socket not connected"
        return None if self._runner is not None else "Slack HTTP server not running"

    def stop_intake(self) -> None:
        """New questions get a "restarting" reply; clicks and the cards of questions in flight keep
        working. The server (or socket) stays up so nobody's command goes unanswered."""
        if self.handlers is not None:
            self.handlers.accepting = False

    async def _close_intake(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        """Stop taking requests, send the queued card updates, close every connection."""
        await self._close_intake()
        if self.handlers is not None:
            await self.handlers.listeners.settle(LISTENER_GRACE)
        self._stopped = True
        await self.pacer.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.client.session = None

    async def on_event(self, event: Event) -> None:
        """The core's event sink; quiet once stopped."""
        if not self._stopped:
            await self.renderer.on_event(event)


def build_slack_app(service: ConsensusService, *, bot_token: str, signing_secret: str, api_url: str,
                    command: str = "/consensus", app_token: str | None = None,
                    pacing: Pacing | None = None, metrics: Metrics | None = None) -> SlackBot:
    """Wire the Slack adapter to the core. `api_url` is the Web API base (https://slack.com/api/).

    HTTP mode needs `signing_secret`; Socket Mode (`app_token`, xapp-…) does not verify signatures.
    """
    if not bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set (the xoxb-… bot token).")
    if not app_token and not signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode cannot verify Slack's requests without it.")
    api_url = api_url or "https://slack.com/api/"
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    client = AsyncWebClient(token=bot_token, base_url=base_url,
                            retry_handlers=[AsyncConnectionErrorRetryHandler()])
    pacer = Pacer(client, pacing)
    client.retry_handlers.append(RateLimitNotifier(pacer.limited))
    app = AsyncApp(client=client, signing_secret=signing_secret, ignoring_self_events_enabled=True,
                   request_verification_enabled=True, process_before_response=True)  # see acking.py
    people = People(client)
    renderer = ThreadRenderer(service, pacer, name_of=people.name, workspace_url=people.workspace_url)
    handlers = SlackHandlers(service, renderer, people, client, command)
    handlers.register(app)
    bot = SlackBot(app, client, pacer, renderer, app_token=app_token, handlers=handlers, metrics=metrics)
    service.subscribe(Platform.SLACK.value, bot.on_event)
    return bot

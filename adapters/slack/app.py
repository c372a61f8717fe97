"""Build and run the Slack app: one Bolt AsyncApp, one shared AsyncWebClient, HTTP or Socket Mode.

bot = build_slack_app(service, bot_token=..., signing_secret=..., api_url="https://slack.com/api/")
await bot.start("0.0.0.0", 3000)      # HTTP: POST /slack/events; Socket Mode if app_token is set;
                                      # returns once Slack accepted the tokens (retries until then)
...
await bot.stop_intake()               # new questions get "restarting"; running questions still render
await bot.stop()                      # closes the server or socket, flushes card updates, closes HTTP
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.calltrace import call_trace
from adapters.connecting import describe, one_line
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
SOCKET_PING = 10.0  # slack_sdk pings at this interval, and retries a failed (re)connect after it
BACKOFF = BackoffRetryIntervalCalculator(backoff_factor=1.0)  # 1, 2, 4 … s, plus up to 1 s of jitter
MAX_BACKOFF = 60.0
# What Slack answers for a token it will never accept: retrying cannot help, the setting must change.
REJECTED_TOKEN = {
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
}
NOT_CONNECTED = "Slack not connected yet"


class _OneLineSocketRetries(logging.Filter):
    """slack_sdk's Socket Mode client logs each failed (re)connect at ERROR, the first with a
    traceback, and tries again after its ping interval: one WARNING line per attempt says it all."""

    RETRIED = ("Failed to connect", "Failed to check the current session", "Failed to receive or enqueue")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Failed to retrieve WSS URL"):
            return False  # the caller logs the same failure next, as one of the lines below
        if record.levelno < logging.ERROR or not message.startswith(self.RETRIED):
            return True
        why = describe(record.exc_info[1]) if record.exc_info else message
        return one_line(record, f"Slack Socket Mode: {why}; next attempt in {SOCKET_PING:g} s")


SOCKET_LOG = logging.getLogger("adapters.slack.socket")  # handed to slack_sdk's Socket Mode client
SOCKET_LOG.addFilter(_OneLineSocketRetries())


MALFORMED = {"error": "malformed request"}


def signed(verifier: SignatureVerifier, body: str, headers: Mapping[str, str]) -> bool:
    """Whether Slack signed this request, within its five minutes. Checked before the body is read
    at all: whatever an unsigned request holds is neither parsed nor logged (Bolt would log it)."""
    try:
        return verifier.is_valid_request(body, headers)
    except ValueError:  # a timestamp that is not a number
        return False


def slack_shaped(body: str, content_type: str) -> bool:
    """Whether Bolt can read the body: a JSON object, or a form (whose `payload` is a JSON object)."""
    try:
        return isinstance(parse_body(body, content_type), dict)
    except ValueError:
        return False


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

    def __init__(
        self,
        app: AsyncApp,
        client: AsyncWebClient,
        pacer: Pacer,
        renderer: ThreadRenderer,
        *,
        app_token: str | None = None,
        handlers: SlackHandlers | None = None,
        metrics: Metrics | None = None,
        verifier: SignatureVerifier | None = None,
    ) -> None:
        self.app, self.client, self.pacer, self.renderer = app, client, pacer, renderer
        self.app_token = app_token
        self.verifier = verifier  # HTTP mode: checks each request's signature before anything else
        self.handlers = handlers
        self.metrics: Metrics = metrics or NoMetrics()
        self.port: int | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._stopped = False
        self._waiting: str | None = NOT_CONNECTED  # why not ready yet; None once Slack accepted the tokens

    @property
    def mode(self) -> str:
        return "socket" if self.app_token else "http"

    def web_app(self, routes: Iterable[web.RouteDef] = ()) -> web.Application:
        """The aiohttp application serving Slack's requests at /slack/events (HTTP mode), plus
        `routes` (the bot's health and metrics), so one port serves everything."""

        async def events(request: web.Request) -> web.Response:
            started = time.monotonic()
            body = await request.text()
            if self.verifier is None or not signed(self.verifier, body, request.headers):
                return web.json_response({"error": "invalid request"}, status=401)  # as Bolt answers
            if not slack_shaped(body, request.content_type):
                log.warning(
                    "Slack: a signed request of %d bytes is not one Slack sends; answered 400", len(body.encode())
                )
                return web.json_response(MALFORMED, status=400)
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
        """Connect; return once Slack accepted the tokens. HTTP mode serves on host:port first (port 0
        picks a free one, see `.port`), then checks the bot token; Socket Mode checks the bot token and
        the app token, then connects. While Slack cannot be reached this retries, with backoff; a
        rejected token is a ConfigError naming its setting."""
        self._session = aiohttp.ClientSession(trace_configs=[call_trace("slack", self.metrics)])
        self.client.session = self._session
        if not self.app_token:
            await self._serve_http(host, port, routes)
        await self._until_answered(self.client.auth_test, "SLACK_BOT_TOKEN")
        if self.app_token:
            await self._connect_socket(self.app_token)
        self._waiting = None
        log.info("Slack: connected%s", " in Socket Mode" if self.app_token else "; the bot token is accepted")

    async def _serve_http(self, host: str, port: int, routes: Iterable[web.RouteDef]) -> None:
        self._runner = web.AppRunner(self.web_app(routes), shutdown_timeout=2.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("Slack: serving %s on %s:%s", EVENTS_PATH, host, self.port)

    async def _connect_socket(self, app_token: str) -> None:
        self._socket = _TimedSocketHandler(
            self.app, app_token, logger=SOCKET_LOG, web_client=self.client, ping_interval=SOCKET_PING
        )
        self._socket.metrics = self.metrics
        # The first WebSocket URL is asked for here, where a rejected SLACK_APP_TOKEN stops the start;
        # slack_sdk's own loop would retry it forever. From then on, slack_sdk reconnects by itself.
        opened = await self._until_answered(
            lambda: self.client.apps_connections_open(app_token=app_token), "SLACK_APP_TOKEN"
        )
        self._socket.client.wss_uri = str(opened["url"])
        await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def _until_answered(
        self, call: Callable[[], Awaitable[AsyncSlackResponse]], setting: str
    ) -> AsyncSlackResponse:
        """`call()` until Slack answers. A rejected token is a ConfigError naming `setting`; while Slack
        cannot be reached (or fails on its side), wait 1, 2, 4 … 60 s between attempts, one line each."""
        attempt = 0
        while True:
            try:
                return await call()
            except SlackApiError as exc:
                error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
                if error in REJECTED_TOKEN:
                    raise ConfigError(
                        f"Slack rejected {setting} ({error}); copy the token again from the "
                        "app's settings at api.slack.com/apps."
                    ) from None
                why = f"Slack answered {error}"
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                why = f"cannot reach the Web API ({describe(exc)})"
            delay = min(MAX_BACKOFF, BACKOFF.calculate_sleep_duration(attempt))
            self._waiting = f"Slack: {why}; retrying"
            log.warning("Slack: %s; next attempt in %.1f s", why, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def ready(self) -> str | None:
        """None when Slack can reach us (tokens accepted, and the HTTP server up or the socket
        connected); else why not."""
        if self._waiting is not None:
            return self._waiting
        if self.app_token:
            connected = self._socket is not None and await self._socket.client.is_connected()
            return None if connected else "Slack socket not connected; reconnecting"
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
        await self.renderer.live.settle()  # finished answers waiting for their ranking go out first
        await self.pacer.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.client.session = None

    async def on_event(self, event: Event) -> None:
        """The core's event sink; quiet once stopped."""
        if not self._stopped:
            await self.renderer.on_event(event)


def build_slack_app(
    service: ConsensusService,
    *,
    bot_token: str,
    signing_secret: str,
    api_url: str,
    command: str = "/consensus",
    app_token: str | None = None,
    pacing: Pacing | None = None,
    metrics: Metrics | None = None,
) -> SlackBot:
    """Wire the Slack adapter to the core. `api_url` is the Web API base (https://slack.com/api/).

    HTTP mode needs `signing_secret`; Socket Mode (`app_token`, xapp-…) does not verify signatures.
    """
    if not bot_token:
        raise ConfigError("SLACK_BOT_TOKEN is not set (the xoxb-… bot token).")
    if not app_token and not signing_secret:
        raise ConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode cannot verify Slack's requests without it.")
    api_url = api_url or "https://slack.com/api/"
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    client = AsyncWebClient(token=bot_token, base_url=base_url, retry_handlers=[AsyncConnectionErrorRetryHandler()])
    pacer = Pacer(client, pacing)
    client.retry_handlers.append(RateLimitNotifier(pacer.limited))
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        ignoring_self_events_enabled=True,
        request_verification_enabled=True,
        process_before_response=True,
    )  # see acking.py
    people = People(client)
    renderer = ThreadRenderer(service, pacer, name_of=people.name, workspace_url=people.workspace_url)
    handlers = SlackHandlers(service, renderer, people, client, command)
    handlers.register(app)
    verifier = SignatureVerifier(signing_secret) if signing_secret else None
    bot = SlackBot(
        app, client, pacer, renderer, app_token=app_token, handlers=handlers, metrics=metrics, verifier=verifier
    )
    service.subscribe(Platform.SLACK.value, bot.on_event, delivers=True)
    return bot

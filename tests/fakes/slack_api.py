"""A stateful fake Slack Web API on 127.0.0.1: `POST /api/{method}` (arguments merged from query
string, form and JSON, as slack_sdk uses all three), Block Kit checked with slack_sdk's validators
(`invalid_blocks` like Slack), a response_url sink at `/respond/{key}`, and Socket Mode
(`apps.connections.open` + a WebSocket at `/socket`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes.base import RecordingServer
from tests.fakes.slack_files import NEEDS, FileUploads, missing_scope

BOT_USER, BOT_ID, TEAM = "UBOT", "BBOT", "T1"
WORKSPACE_URL = "https://consensus-test.slack.com/"
DROP = "drop"  # a scripted failure: the connection closes without an answer
HTML_500 = (500, "<html><body>Internal Server Error</body></html>")  # a proxy's error page, not JSON
Failure = str | tuple[int, str]  # DROP, or (HTTP status, Slack error code or an HTML page)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    user: str = BOT_USER
    edits: int = 0
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # every posted/updated payload
    metadata: dict[str, Any] | None = None  # message metadata: event_type and event_payload

    def shown(self, *, with_metadata: bool) -> dict[str, Any]:
        """As conversations.history and .replies return it."""
        found: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "bot_id": BOT_ID}
        if self.thread_ts:
            found["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            found["metadata"] = self.metadata
        return found


def block_errors(blocks: Any, *, limit: int = 50) -> list[str]:
    """What Slack would reject in a list of blocks (limits checked by slack_sdk's validators)."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    errors = [f"{len(blocks)} blocks > {limit}"] if len(blocks) > limit else []
    ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id")]
    if len(ids) != len(set(ids)):
        errors.append("duplicate block_id")
    for raw in blocks:
        try:
            parsed = Block.parse(raw)
            if parsed is None:
                raise SlackObjectFormationError(f"unknown block {raw!r}")
            parsed.to_dict()  # validates nested objects too
        except SlackObjectFormationError as exc:
            errors.append(str(exc))
        _check_text_objects(raw, errors)
    return errors


def _check_text_objects(node: Any, errors: list[str]) -> None:
    if isinstance(node, dict):
        text = node.get("text")
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(text, str) and not 0 < len(text) <= 3000:
            errors.append(f"text object of {len(text)} chars")
    for value in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
        _check_text_objects(value, errors)


class FakeSlackAPI(FileUploads, RecordingServer):
    def __init__(self, *, tiers: dict[str, int] | None = None, call_latency: float = 0.0) -> None:
        self.scopes = set(NEEDS.values())  # the bot token's scopes; a test may take one away
        self.messages: dict[str, dict[str, Message]] = defaultdict(dict)
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # what arrived at response_url
        self.views: list[dict[str, Any]] = []  # views.open / views.update / views.publish arguments
        self.users: dict[str, dict[str, Any]] = {}
        self.delay: dict[str, float] = {}
        self.rate_limit_next: dict[str, deque[float]] = defaultdict(deque)  # method -> Retry-After values
        self.fail_next: dict[str, deque[Failure]] = defaultdict(deque)  # method -> failures to answer with
        self.tiers = tiers or {}  # method -> calls allowed per 60 s; beyond that: 429
        self.socket_received: list[dict[str, Any]] = []
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._window: dict[str, deque[float]] = defaultdict(deque)
        super().__init__(call_latency=call_latency)

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # slack_sdk sends users.info as a GET
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_get("/socket", self._socket)
        self.setup_uploads(app)

    def route_name(self, request: web.Request) -> str:
        if request.path.startswith("/api/"):
            return request.path[len("/api/") :]
        return f"{request.method} {request.path.rsplit('/', 1)[0]}"

    # --- helpers for tests ---------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"{self.url}/respond/{key}"

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "team_id": TEAM,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": False,
            "real_name": name.title(),
        }

    def channel(self, channel: str) -> list[Message]:
        return list(self.messages[channel].values())

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.messages[channel].values() if m.thread_ts == thread_ts and not m.deleted]

    def args(self, method: str) -> list[dict[str, Any]]:
        """The merged arguments of every call of `method`, in order."""
        return [args for name, args in self.received if name == method]

    @property
    def sockets(self) -> int:  # connected Socket Mode clients
        return len(self._sockets)

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to every connected client."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps(envelope))

    # --- the API -------------------------------------------------------------------------------

    @staticmethod
    def _merge_sync(path: str, content_type: str, body: bytes) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if "?" in path:
            args.update(parse_qsl(path.split("?", 1)[1]))
        if body and content_type.startswith("application/json"):
            args.update(json.loads(body))
        elif body:
            args.update(parse_qsl(body.decode()))
        for key in ("blocks", "view", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        response = await self._answer(request)
        async with self._changed:  # state changed: wake `wait_until`
            self._changed.notify_all()
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = self._merge_sync(request.path_qs, request.content_type, await request.read())
        self.received.append((method, args))
        auth = request.headers.get("Authorization", "")
        want = "Bearer xapp-" if method == "apps.connections.open" else "Bearer xoxb-"
        if not auth.startswith(want):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if self.fail_next[method]:
            return self._failed(request, self.fail_next[method].popleft())
        if self.delay.get(method):
            await asyncio.sleep(self.delay[method])
        if self.rate_limit_next[method]:
            return self._limited(self.rate_limit_next[method].popleft())
        if method in self.tiers and not self._within_tier(method):
            return self._limited(1)
        needed = missing_scope(method, self.scopes)
        if needed:
            return web.json_response(
                {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(self.scopes))}
            )
        if method in ("views.open", "views.update", "views.publish"):
            return web.json_response(self._view(args, method))
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        return web.json_response(handler(args) if handler else {"ok": False, "error": "unknown_method"})

    def _within_tier(self, method: str) -> bool:
        now, window = time.monotonic(), self._window[method]
        while window and now - window[0] > 60:
            window.popleft()
        window.append(now)
        return len(window) <= self.tiers[method]

    @staticmethod
    def _failed(request: web.Request, failure: Failure) -> web.Response:
        if failure == DROP:
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never arrives
        status, error = failure
        if error.startswith("<"):
            return web.Response(status=status, text=error, content_type="text/html")
        return web.json_response({"ok": False, "error": error}, status=status)

    @staticmethod
    def _limited(retry_after: float) -> web.Response:
        return web.json_response(
            {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(int(retry_after))}
        )

    def _next_ts(self) -> str:
        self._seq += 1
        return f"1700000000.{self._seq:06d}"

    def m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Test",
            "user": "consensus",
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _check_message(self, args: dict[str, Any]) -> str | None:
        if not args.get("channel"):
            return "channel_not_found"
        if "blocks" in args and block_errors(args["blocks"]):
            return "invalid_blocks"
        if not args.get("text") and not args.get("blocks"):
            return "no_text"
        return None

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._check_message(args)
        if error:
            return {"ok": False, "error": error, "detail": block_errors(args.get("blocks", []))}
        ts = self._next_ts()
        message = Message(
            args["channel"],
            ts,
            args.get("text", ""),
            args.get("blocks", []),
            args.get("thread_ts"),
            history=[args],
            metadata=args.get("metadata"),
        )
        self.messages[args["channel"]][ts] = message
        return {
            "ok": True,
            "channel": args["channel"],
            "ts": ts,
            "message": {"type": "message", "text": message.text, "ts": ts, "bot_id": BOT_ID},
        }

    def m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """The channel's top-level messages, newest first; metadata only with include_all_metadata."""
        channel = self.messages.get(args.get("channel", ""), {})
        found = [m for m in channel.values() if not m.deleted and not m.thread_ts]
        return self._listing(reversed(found), args)

    def m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread: its parent first, then the replies, oldest first."""
        channel = self.messages.get(args.get("channel", ""), {})
        parent = channel.get(args.get("ts", ""))
        if parent is None or parent.deleted:
            return {"ok": False, "error": "thread_not_found"}
        replies = [m for m in channel.values() if m.thread_ts == parent.ts and not m.deleted]
        return self._listing([parent, *replies], args)

    @staticmethod
    def _listing(messages: Any, args: dict[str, Any]) -> dict[str, Any]:
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = int(args.get("limit") or 100)
        shown = [m.shown(with_metadata=with_metadata) for m in messages][:limit]
        return {"ok": True, "messages": shown, "has_more": False}

    def _find(self, args: dict[str, Any]) -> Message | None:
        message = self.messages.get(args.get("channel", ""), {}).get(args.get("ts", ""))
        return None if message is None or message.deleted else message

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._check_message(args)
        message = self._find(args)
        if error or message is None:
            return {"ok": False, "error": error or "message_not_found"}
        message.text = args.get("text", message.text)
        message.blocks = args.get("blocks", message.blocks)
        message.edits += 1
        message.history.append(args)
        return {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text}

    def m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self._find(args)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.deleted = True
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        error = self._check_message(args)
        if error or not args.get("user"):
            return {"ok": False, "error": error or "user_not_in_channel"}
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, args: dict[str, Any], kind: str) -> dict[str, Any]:
        view = args.get("view") or {}
        errors = block_errors(view.get("blocks", []), limit=100)
        try:
            View(**view).to_dict()  # the view's own limits: title ≤ 24 characters, private_metadata ≤ 3000…
        except (SlackObjectFormationError, TypeError) as exc:
            errors.append(str(exc))
        if errors:
            return {"ok": False, "error": "invalid_arguments", "detail": errors}
        self.views.append({"method": kind, **args})
        return {"ok": True, "view": {"id": f"V{len(self.views)}", **view}}

    # --- response_url and Socket Mode --------------------------------------------------------------

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append(json.loads(await request.read() or b"{}"))
        async with self._changed:
            self._changed.notify_all()
        return web.Response(text="ok")

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await super().stop()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        async with self._changed:
            self._changed.notify_all()
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake"},
                    "connection_info": {"app_id": "A1"},
                }
            )
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_received.append(json.loads(msg.data))
                    async with self._changed:
                        self._changed.notify_all()
        finally:
            self._sockets.remove(ws)
            async with self._changed:
                self._changed.notify_all()
        return ws

    async def wait_until(self, predicate: Any, within: float = 5.0) -> None:
        """Wait until `predicate()` holds, re-checking whenever a request arrives."""

        async def check() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        try:
            await asyncio.wait_for(check(), within)
        except TimeoutError:
            raise AssertionError(
                "condition not met; calls seen: " + ", ".join(sorted({c.name for c in self.calls}))
            ) from None

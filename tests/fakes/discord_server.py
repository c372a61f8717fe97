"""A fake Discord: REST v10 (the routes the bot uses) and a gateway over an aiohttp WebSocket.

Stateful where discord.py depends on it: a message store, threads created from messages, the
interaction token -> message map (`@original`), per-route rate-limit buckets with their headers
(tests/fakes/discord_limits.py), and scripted 429s carrying a `Via` header.
Responses are built by hand: discord.py wants `Content-Type: application/json` exactly.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tests.fakes import discord_payloads as p
from tests.fakes.base import Call, RecordingServer
from tests.fakes.discord_gateway import GatewayMixin, Session
from tests.fakes.discord_limits import Buckets

API = "/api/v10"
_ID = re.compile(r"^\d{5,}$")
_json, _error = p.json_response, p.error_response


class FakeDiscord(GatewayMixin, RecordingServer):
    def __init__(
        self,
        *,
        heartbeat_ms: int = 41250,
        token: str = "test-token",
        call_latency: float = 0.0,
        bucket_limit: int = 5,
        bucket_window: float = 0.25,
    ) -> None:
        """Each route allows `bucket_limit` requests per `bucket_window` seconds per channel, guild,
        webhook or interaction (Discord's message routes: 5 per 5 s; a short window keeps the tests quick)."""
        self.token = token
        self.buckets = Buckets(bucket_limit, bucket_window)
        self.heartbeat_ms = heartbeat_ms
        self.bot_user = p.user(name="consensus", bot=True)
        self.app_id = p.snowflake()
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.deleted: list[str] = []
        self.interactions: dict[str, dict[str, Any]] = {}  # token -> {"data": payload, "original": id}
        self.modals: list[dict[str, Any]] = []  # callback type 9: {"interaction": payload, "modal": data}
        self.commands: dict[str, list[dict[str, Any]]] = {}  # "global" or guild id -> commands
        self.identified: list[dict[str, Any]] = []
        self._sessions: list[Session] = []
        self._seq = 0
        self._limits: dict[str, list[float]] = {}
        self._failures: dict[str, list[tuple[int, int, str]]] = {}
        self._drops: dict[str, int] = {}
        super().__init__(call_latency=call_latency)

    # ---- set-up and helpers for tests -------------------------------------------------------
    def add_guild(self, guild: dict[str, Any]) -> None:
        self.guilds[guild["id"]] = guild
        for ch in [*guild.get("channels", []), *guild.get("threads", [])]:
            self.channels[ch["id"]] = {**ch, "guild_id": guild["id"]}

    def add_channel(self, channel: dict[str, Any]) -> None:
        self.channels[channel["id"]] = channel

    def rate_limit(self, name: str, times: int = 1, retry_after: float = 0.05) -> None:
        """The next `times` requests to route `name` get a 429 (with `Via`, as Discord's edge sends)."""
        self._limits.setdefault(name, []).extend([retry_after] * times)

    def fail(
        self, name: str, status: int = 403, code: int = 50013, message: str = "Missing Permissions", times: int = 1
    ) -> None:
        """The next `times` requests to route `name` get this error (e.g. a missing permission)."""
        self._failures.setdefault(name, []).extend([(status, code, message)] * times)

    def drop(self, name: str, times: int = 1) -> None:
        """The next `times` requests to route `name` lose their connection before any answer."""
        self._drops[name] = self._drops.get(name, 0) + times

    def limits_left(self, name: str) -> int:
        return len(self._limits.get(name, []))

    def modal_for(self, interaction: dict[str, Any]) -> dict[str, Any]:
        """The modal the bot opened in answer to `interaction` (the callback type 9's data)."""
        [found] = [m["modal"] for m in self.modals if m["interaction"]["id"] == interaction["id"]]
        return found

    def in_channel(self, channel_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == channel_id]

    def writes(self) -> list[Call]:
        """Every request by which the bot sent or edited a message (channel, webhook or callback)."""
        kinds = (
            "POST /channels/{id}/messages",
            "PATCH /channels/{id}/messages/{id}",
            "POST /webhooks/{id}/{token}",
            "PATCH /webhooks/{id}/{token}/messages/@original",
            "PATCH /webhooks/{id}/{token}/messages/{id}",
            "POST /interactions/{id}/{token}/callback",
        )
        return [c for c in self.calls if c.name in kinds]

    @staticmethod
    def payload(call: Call) -> dict[str, Any]:
        """The JSON a call carried, whether sent as JSON or as multipart `payload_json`."""
        ctype = call.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            return p.multipart(ctype, call.body)[0]
        return call.json() or {}

    async def stop(self) -> None:
        await self.close_sessions()
        await super().stop()

    # ---- routing -------------------------------------------------------------------------------
    def route_name(self, request: web.Request) -> str:
        parts = request.path.removeprefix(API).strip("/").split("/")
        out: list[str] = []
        for i, part in enumerate(parts):
            if i == 2 and parts[0] in ("interactions", "webhooks"):
                out.append("{token}")
            elif _ID.match(part):
                out.append("{id}")
            else:
                out.append(part)
        return f"{request.method} /" + "/".join(out)

    def setup_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._scripted_429)
        r = app.router
        r.add_get("/gateway", self.gateway)
        r.add_get(API + "/users/@me", self._me)
        r.add_get(API + "/oauth2/applications/@me", self._app_info)
        r.add_put(API + "/applications/{app}/commands", self._put_commands)
        r.add_put(API + "/applications/{app}/guilds/{guild}/commands", self._put_commands)
        r.add_post(API + "/interactions/{iid}/{token}/callback", self._callback)
        r.add_post(API + "/webhooks/{app}/{token}", self._followup)
        r.add_route("*", API + "/webhooks/{app}/{token}/messages/{mid}", self._webhook_message)
        r.add_get(API + "/channels/{cid}", self._get_channel)
        r.add_get(API + "/guilds/{gid}/members/{uid}", self._get_member)
        r.add_post(API + "/channels/{cid}/messages", self._create_message)
        r.add_get(API + "/channels/{cid}/messages", self._history)
        r.add_route("*", API + "/channels/{cid}/messages/{mid}", self._channel_message)
        r.add_post(API + "/channels/{cid}/messages/{mid}/threads", self._create_thread)

    @web.middleware
    async def _scripted_429(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._drops.get(self.route_name(request)):
            self._drops[self.route_name(request)] -= 1
            assert request.transport is not None
            request.transport.close()
            return web.Response()  # never arrives
        failures = self._failures.get(self.route_name(request))
        if failures:
            return _error(*failures.pop(0))
        queue = self._limits.get(self.route_name(request))
        if queue:
            retry_after = queue.pop(0)
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
            return _json(body, 429, {"Via": "1.1 google", "Retry-After": str(retry_after), "X-RateLimit-Scope": "user"})
        if not request.path.startswith(API):
            return await handler(request)  # the gateway
        allowed, headers = self.buckets.take(self.route_name(request), request.path)
        if not allowed:
            body, refused = self.buckets.refusal(headers)
            return _json(body, 429, refused)
        response = await handler(request)
        response.headers.update(headers)
        return response

    # ---- REST handlers -------------------------------------------------------------------------
    async def _me(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        return _json(self.bot_user)

    async def _app_info(self, _: web.Request) -> web.Response:
        return _json(
            {
                "id": self.app_id,
                "name": "Consensus",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.bot_user,
                "verify_key": "00" * 32,
                "flags": 0,
                "team": None,
                "summary": "",
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = request.match_info.get("guild", "global")
        cmds = [
            {
                **c,
                "id": p.snowflake(),
                "application_id": self.app_id,
                "version": p.snowflake(),
                **({"guild_id": scope} if scope != "global" else {}),
            }
            for c in await request.json()
        ]
        self.commands[scope] = cmds
        return _json(cmds)

    async def _get_channel(self, request: web.Request) -> web.Response:
        ch = self.channels.get(request.match_info["cid"])
        return _json(ch) if ch else _error(404, 10003, "Unknown Channel")

    async def _get_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(request.match_info["gid"])
        if guild is None:
            return _error(404, 10004, "Unknown Guild")
        found = [m for m in guild.get("members", []) if m["user"]["id"] == request.match_info["uid"]]
        return _json(found[0]) if found else _error(404, 10007, "Unknown Member")

    async def _create_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if cid not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        data, files = await p.request_body(request)
        nonce = data.get("nonce")
        if nonce is not None and data.get("enforce_nonce"):  # the same author's nonce, recently: that message
            for msg in self.messages.values():
                if msg.get("nonce") == str(nonce) and msg["author"]["id"] == self.bot_user["id"]:
                    return _json(msg)
        msg = self._store(cid, data, files)
        if nonce is not None:
            msg["nonce"] = str(nonce)
        return _json(msg)

    async def _history(self, request: web.Request) -> web.Response:
        """A channel's latest messages, newest first (`limit`, at most 100)."""
        cid = request.match_info["cid"]
        if cid not in self.channels:
            return _error(404, 10003, "Unknown Channel")
        limit = min(int(request.query.get("limit", 50)), 100)
        return _json(list(reversed(self.in_channel(cid)))[:limit])

    async def _channel_message(self, request: web.Request) -> web.Response:
        msg = self.messages.get(request.match_info["mid"])
        if msg is None or msg["channel_id"] != request.match_info["cid"]:
            return _error(404, 10008, "Unknown Message")
        return await self._message_op(request, msg)

    async def _message_op(self, request: web.Request, msg: dict[str, Any]) -> web.Response:
        if request.method == "GET":
            return _json(msg)
        if request.method == "DELETE":
            self.deleted.append(self.messages.pop(msg["id"])["id"])
            return web.Response(status=204)
        data, files = await p.request_body(request)
        return _json(self._edit(msg, data, files))

    async def _create_thread(self, request: web.Request) -> web.Response:
        cid, mid = request.match_info["cid"], request.match_info["mid"]
        parent, msg = self.channels.get(cid), self.messages.get(mid)
        if parent is None or msg is None:
            return _error(404, 10008, "Unknown Message")
        if parent["type"] not in (0, 5):
            return _error(400, 50024, "Cannot execute action on this channel type")
        if msg.get("thread"):
            return _error(400, 160004, "A thread has already been created for this message")
        data = await request.json()
        thread = p.thread_channel(
            parent["guild_id"],
            cid,
            self.bot_user["id"],
            data["name"],
            mid,
            auto_archive_duration=data.get("auto_archive_duration") or 1440,
        )
        self.channels[mid] = thread
        msg["thread"] = thread
        await self.push("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    async def _callback(self, request: web.Request) -> web.Response:
        entry = self.interactions.get(request.match_info["token"])
        if entry is None or entry["data"]["id"] != request.match_info["iid"]:
            return _error(404, 10062, "Unknown interaction")
        if entry.get("responded"):
            return _error(400, 40060, "Interaction has already been acknowledged.")
        entry["responded"] = True
        body, files = await p.request_body(request)
        kind, data = body["type"], body.get("data") or {}
        inter = entry["data"]
        msg: dict[str, Any] | None = None
        if kind == 4:
            msg = self._store(inter["channel_id"], data, files, interaction=inter)
        elif kind == 5:
            flags = 128 | (int(data.get("flags", 0)) & 64)
            msg = self._store(inter["channel_id"], {"content": "", "flags": flags}, {}, interaction=inter)
        elif kind == 7 and entry["original"] in self.messages:
            msg = self._edit(self.messages[entry["original"]], data, files)
        elif kind == 9:  # a modal: shown to the person, who may submit it (p.modal_submit)
            self.modals.append({"interaction": inter, "modal": data})
        if msg is not None and kind in (4, 5):
            entry["original"] = msg["id"]
        answer: dict[str, Any] = {
            "interaction": {
                "id": inter["id"],
                "type": inter["type"],
                "response_message_id": msg["id"] if msg else None,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(msg and msg["flags"] & 64),
            }
        }
        if msg is not None:
            answer["resource"] = {"type": kind, "message": msg}
        return _json(answer)

    async def _followup(self, request: web.Request) -> web.Response:
        entry = self.interactions.get(request.match_info["token"])
        if entry is None:
            return _error(401, 50027, "Invalid Webhook Token")
        data, files = await p.request_body(request)
        msg = self._store(entry["data"]["channel_id"], data, files, interaction=entry["data"])
        return _json(msg)

    async def _webhook_message(self, request: web.Request) -> web.Response:
        entry = self.interactions.get(request.match_info["token"])
        if entry is None:
            return _error(401, 50027, "Invalid Webhook Token")
        mid = request.match_info["mid"]
        msg = self.messages.get(entry["original"] if mid == "@original" else mid)
        if msg is None:
            return _error(404, 10008, "Unknown Message")
        if request.method == "PATCH" and msg["flags"] & 128:
            msg["flags"] &= ~128  # the first edit of a deferred reply ends "thinking"
        return await self._message_op(request, msg)

    # ---- the message store --------------------------------------------------------------------
    def _store(
        self, cid: str, data: dict[str, Any], files: dict[str, bytes], interaction: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        ch = self.channels.get(cid, {})
        msg: dict[str, Any] = {
            "id": p.snowflake(),
            "channel_id": cid,
            "author": self.bot_user,
            "content": "",
            "embeds": [],
            "components": [],
            "attachments": [],
            "timestamp": p.now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "type": 20 if interaction else 0,
            "flags": 0,
            "application_id": self.app_id,
        }
        if "guild_id" in ch:
            msg["guild_id"] = ch["guild_id"]
        if interaction is not None:  # a reply to an interaction says which one
            msg["webhook_id"] = self.app_id
            who = interaction.get("member", {}).get("user") or interaction.get("user") or self.bot_user
            msg["interaction_metadata"] = {
                "id": interaction["id"],
                "type": interaction["type"],
                "user": who,
                "authorizing_integration_owners": {},
            }
        self.messages[msg["id"]] = msg
        if ch:
            ch["last_message_id"] = msg["id"]
            ch["message_count"] = ch.get("message_count", 0) + 1
            ch["total_message_sent"] = ch.get("total_message_sent", 0) + 1
        return self._edit(msg, data, files, edited=False)

    def _edit(
        self, msg: dict[str, Any], data: dict[str, Any], files: dict[str, bytes], *, edited: bool = True
    ) -> dict[str, Any]:
        for key in ("content", "embeds", "components"):
            if key in data and data[key] is not None:
                msg[key] = data[key]
        if "flags" in data and data["flags"] is not None:
            msg["flags"] = int(data["flags"])
        if "attachments" in data or files:
            msg["attachments"] = self._attachments(msg, data.get("attachments"), files)
        if edited:
            msg["edited_timestamp"] = p.now_iso()
        return msg

    def _attachments(
        self, msg: dict[str, Any], wanted: list[dict[str, Any]] | None, files: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        """Existing attachments are kept by snowflake id; new ones come as `files[<n>]` parts."""
        old = {a["id"]: a for a in msg.get("attachments", [])}
        stored = self.files.setdefault(msg["id"], {})
        if wanted is None:
            wanted = [{"id": str(i)} for i in range(len(files))]
        out: list[dict[str, Any]] = []
        for att in wanted:
            aid = str(att.get("id"))
            if aid in old:
                out.append(old[aid])
                continue
            name = att.get("filename") or f"file{aid}"
            stored[name] = files.get(f"files[{aid}]", b"")
            url = f"{self.url}/attachments/{msg['id']}/{name}"
            shown = {"id": p.snowflake(), "filename": name, "size": len(stored[name]), "url": url, "proxy_url": url}
            out.append({**shown, "description": att["description"]} if att.get("description") else shown)
        keep = {a["filename"] for a in out}
        self.files[msg["id"]] = {n: b for n, b in stored.items() if n in keep}
        return out

"""The fake Discord's gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeat ACKs, RESUME.

Frames are zlib-stream compressed when the client asks for it, as discord.py does by default.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes import discord_payloads as p

MESSAGE_CONTENT = 1 << 15


class GatewayMixin:
    """Mixed into FakeDiscord, which provides the attributes below."""

    token: str
    port: int
    heartbeat_ms: int
    bot_user: dict[str, Any]
    app_id: str
    guilds: dict[str, dict[str, Any]]
    identified: list[dict[str, Any]]
    interactions: dict[str, dict[str, Any]]
    _sessions: list[Session]
    _seq: int
    message_content_allowed = True  # the portal's "Message Content Intent" switch

    async def push(self, event: str, data: dict[str, Any]) -> None:
        """Dispatch a gateway event to every connected session (interactions are remembered by token)."""
        if event == "INTERACTION_CREATE":
            original = data.get("message", {}).get("id")
            self.interactions[data["token"]] = {"data": data, "original": original}
        await self.broadcast(event, data)

    async def redeliver(self, interaction: dict[str, Any]) -> None:
        """Dispatch an interaction again, as a gateway replay does: Discord still knows it was
        answered, and refuses a second acknowledgement (40060)."""
        await self.broadcast("INTERACTION_CREATE", interaction)

    async def broadcast(self, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        for session in list(self._sessions):
            await session.send({"op": 0, "t": event, "s": self._seq, "d": data})

    async def close_sessions(self, code: int = 1000, message: bytes = b"") -> None:
        """Close every gateway session with `code`: 1000 a normal close, after which the bot reconnects;
        4004 ("Authentication failed") as when the bot's token is reset, after which it must not."""
        for session in list(self._sessions):
            await session.ws.close(code=code, message=message)

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = Session(ws, zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None)
        self._sessions.append(session)
        try:
            await session.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
            async for raw in ws:
                if raw.type != WSMsgType.TEXT:
                    continue
                await self._on_gateway(session, json.loads(raw.data))
        finally:
            self._sessions.remove(session)
        return ws

    async def _on_gateway(self, session: Session, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:
            await session.send({"op": 11})
        elif op == 2:
            self.identified.append(data)
            if data.get("token") != self.token:
                await session.ws.close(code=4004, message=b"Authentication failed.")
                return
            if int(data.get("intents", 0)) & MESSAGE_CONTENT and not self.message_content_allowed:
                await session.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            ready = {
                "v": 10,
                "user": self.bot_user,
                "session_id": f"s{p.snowflake()}",
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/gateway",
                "guilds": [{"id": g, "unavailable": True} for g in self.guilds],
                "application": {"id": self.app_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "shard": [0, 1],
            }
            self._seq += 1
            await session.send({"op": 0, "t": "READY", "s": self._seq, "d": ready})
            for guild in self.guilds.values():
                self._seq += 1
                await session.send({"op": 0, "t": "GUILD_CREATE", "s": self._seq, "d": guild})
        elif op == 6:
            self._seq += 1
            await session.send({"op": 0, "t": "RESUMED", "s": self._seq, "d": {}})


class Session:
    def __init__(self, ws: web.WebSocketResponse, z: Any) -> None:
        self.ws, self.z = ws, z
        self.lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload)
        async with self.lock:
            if self.ws.closed:
                return
            if self.z is None:
                await self.ws.send_str(raw)
            else:
                await self.ws.send_bytes(self.z.compress(raw.encode()) + self.z.flush(zlib.Z_SYNC_FLUSH))

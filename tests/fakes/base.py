"""A recording aiohttp server on 127.0.0.1: the base of every fake upstream in the tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy


@dataclass
class Call:
    method: str
    path: str
    name: str  # a route name with ids templated, e.g. "POST /api/chat.update"
    headers: CIMultiDictProxy[str]
    body: bytes
    t: float  # when it arrived (time.monotonic())
    answered: float | None = None  # when its answer was ready to send (after any `call_latency`)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RecordingServer:
    """Subclasses add routes in `setup_routes`; every request is recorded before it is handled.

    `call_latency` (seconds) is added to every request before it is handled, as a distant platform
    takes a round trip to answer; WebSocket connections (Socket Mode, the gateway) stay instant."""

    def __init__(self, *, call_latency: float = 0.0) -> None:
        self.app = web.Application(middlewares=[self._record])
        self.call_latency = call_latency
        self.calls: list[Call] = []
        self.held: list[Call] = []  # calls handled whose answer was held back (`hold`)
        self._holds: dict[str, list[float]] = {}
        self.closing = asyncio.Event()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.setup_routes(self.app)

    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def route_name(self, request: web.Request) -> str:
        return f"{request.method} {request.path}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> RecordingServer:
        """Listen on 127.0.0.1:`port`; 0 picks a free one (a given one: a client already retrying there)."""
        # A short shutdown timeout: cleanup otherwise waits for hanging handlers for 60 s.
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def disappear(self) -> None:
        """Stop listening, then stop: a client that reconnects at once finds nobody, as in an outage.
        (`stop` alone may still accept that reconnection while it closes the other connections.)"""
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
        await self.stop()

    async def __aenter__(self) -> RecordingServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        call = Call(
            request.method,
            request.path,
            self.route_name(request),
            CIMultiDictProxy(CIMultiDict(request.headers)),
            body,
            time.monotonic(),
        )
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if self.call_latency and request.headers.get("Upgrade", "").lower() != "websocket":
            await asyncio.sleep(self.call_latency)
        try:
            response = await handler(request)
            await self._held(call)
            return response
        finally:
            call.answered = time.monotonic()

    async def _held(self, call: Call) -> None:
        """The call took effect; its answer waits if it is to be held back (`hold`)."""
        holds = self._holds.get(call.name)
        seconds = holds.pop(0) if holds else 0.0
        if seconds:
            async with self._changed:
                self.held.append(call)
                self._changed.notify_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), seconds)

    def hold(self, name: str, seconds: float = 30.0, times: int = 1, after: int = 0) -> None:
        """After the next `after` calls named `name`, the `times` that follow are handled (they take
        effect), then their answer is held back for `seconds`: as a call that reached the platform
        from a client that dies before it hears back."""
        self._holds.setdefault(name, []).extend([0.0] * after + [seconds] * times)

    def release_holds(self) -> None:
        self._holds.clear()

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        """Wait until at least `count` calls named `name` were recorded; return them."""

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.named(name)) >= count)

        try:
            await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            seen = sorted({c.name for c in self.calls})
            raise AssertionError(f"expected {count}× {name}, got {len(self.named(name))}; seen {seen}") from None
        return self.named(name)

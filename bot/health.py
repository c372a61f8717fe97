"""Health and metrics over HTTP, for orchestrators and Prometheus.

`/healthz` says the process runs; `/readyz` says it can do its job (database reachable, every
configured platform connected, not shutting down), so a load balancer only routes to replicas that
answer; `/metrics` is the Prometheus text format. In Slack HTTP mode these routes share the Slack
app's port; otherwise `serve` starts a small server of their own on PORT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from bot.metrics import PrometheusMetrics
from core.store.store import Store

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0
Check = Callable[[], Awaitable[str | None]]  # None when fine, else the reason


class Health:
    def __init__(self, store: Store, metrics: PrometheusMetrics) -> None:
        self.store, self.metrics = store, metrics
        self.checks: dict[str, Check] = {}  # platform -> readiness check, registered before it connects
        self.draining = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/healthz", self.healthz), web.get("/readyz", self.readyz), web.get("/metrics", self.render)]

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _: web.Request) -> web.Response:
        problems = await self.problems()
        if problems:
            return web.json_response({"status": "unavailable", "reasons": problems}, status=503)
        return web.json_response({"status": "ready", "platforms": sorted(self.checks)})

    async def problems(self) -> list[str]:
        found = ["shutting down"] if self.draining else []
        if not self.checks:  # `serve` registers each platform before it connects: never ready with none
            found.append("no chat platform registered yet")
        for name, check in {"database": self._database, **self.checks}.items():
            if (problem := await self._guarded(name, check)) is not None:
                found.append(problem)
        return found

    async def _database(self) -> str | None:
        async with self.store.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return None

    @staticmethod
    async def _guarded(name: str, check: Check) -> str | None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                return await check()
        except TimeoutError:
            return f"{name} did not answer within {CHECK_TIMEOUT:g} s"
        except Exception as exc:  # a failing check is a reason, never a 500
            log.warning("readiness: %s unreachable (%s)", name, type(exc).__name__)
            return f"{name} unreachable ({type(exc).__name__})"

    async def render(self, _: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.render())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    async def start(self, host: str, port: int) -> None:
        """Serve only these routes (Socket Mode and Discord-only deployments)."""
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("health and metrics on %s:%s (/healthz, /readyz, /metrics)", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

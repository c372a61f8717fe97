"""Counts a platform SDK's API calls (and its 429s) from its aiohttp session, without touching
the SDK: Slack's AsyncWebClient takes a session, discord.py takes an `http_trace`."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import aiohttp

from core.metrics import Metrics

_SLACK_METHOD = re.compile(r"/([a-z]+(?:\.[a-zA-Z]+)+)$")
_DISCORD_ROUTE = (
    (re.compile(r"^/api/v\d+"), ""),
    (re.compile(r"/\d{6,}"), "/{id}"),
    (re.compile(r"/((?:interactions|webhooks)/\{id\})/[^/]+"), r"/\1/{token}"),  # tokens are secrets
    (re.compile(r"/reactions/[^/]+"), "/reactions/{emoji}"),
)


def api_method(platform: str, verb: str, path: str) -> str:
    """A bounded metric label: Slack's method ("chat.update"), or Discord's route with ids templated."""
    if platform == "slack":
        found = _SLACK_METHOD.search(path)
        return found.group(1) if found else "other"
    for pattern, replacement in _DISCORD_ROUTE:
        path = pattern.sub(replacement, path)
    return f"{verb} {path}"[:80]


def call_trace(
    platform: str, metrics: Metrics, on_response: Callable[[str, str], None] | None = None
) -> aiohttp.TraceConfig:
    """A TraceConfig reporting each finished call; `on_response(verb, path)` sees it too."""
    trace = aiohttp.TraceConfig()

    async def on_end(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any) -> None:
        path = params.url.path
        metrics.platform_call(platform, api_method(platform, params.method, path), params.response.status)
        if on_response is not None:
            on_response(params.method, path)

    trace.on_request_end.append(on_end)
    return trace

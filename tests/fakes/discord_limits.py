"""Discord's per-route rate limits, as the fake Discord enforces them.

Every REST route is a bucket (its hash names the route, not its ids) counted per top-level resource
(the major parameter: a channel, a guild, a webhook with its token, or an interaction): `limit` requests per
`window` seconds, the window starting at the first request after the last one ended. Each answer
carries X-RateLimit-Limit, -Remaining, -Reset (epoch seconds), -Reset-After (seconds) and -Bucket;
a request over the limit gets a 429 with `retry_after` (and the headers, `Retry-After`,
`X-RateLimit-Scope: user` and `Via`, as Discord's edge sends), and is not handled.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

_MAJOR = ("channels", "guilds", "webhooks", "interactions")


@dataclass
class Window:
    resets: float  # time.monotonic() when the count starts again
    used: int = 0


def major_parameter(path: str) -> str:
    """The top-level resource of a path under /api/v10: "channels/123", "webhooks/1/token", or "".
    An interaction's callback counts on its own (Discord keeps interaction callbacks out of the bot's
    limits): twenty people's commands are answered at once, not five at a time."""
    parts = path.strip("/").split("/")[2:]  # past "api/v10"
    if len(parts) >= 2 and parts[0] in _MAJOR:
        with_token = parts[0] in ("webhooks", "interactions") and len(parts) >= 3
        return "/".join(parts[:3] if with_token else parts[:2])
    return ""


class Buckets:
    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.limited = 0  # requests answered with a 429
        self._windows: dict[tuple[str, str], Window] = {}

    @staticmethod
    def bucket_hash(route: str) -> str:
        return hashlib.sha1(route.encode()).hexdigest()[:16]

    def take(self, route: str, path: str) -> tuple[bool, dict[str, str]]:
        """Count a request to `route` (a route name with its ids templated); whether it is within
        the limit, and the rate-limit headers of its answer."""
        now = time.monotonic()
        key = (route, major_parameter(path))
        found = self._windows.get(key)
        if found is None or now >= found.resets:
            found = self._windows[key] = Window(now + self.window)
        allowed = found.used < self.limit
        if allowed:
            found.used += 1
        else:
            self.limited += 1
        return allowed, self.headers(route, found)

    def headers(self, route: str, window: Window) -> dict[str, str]:
        reset_after = max(0.0, window.resets - time.monotonic())
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.limit - window.used),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket_hash(route),
        }

    @staticmethod
    def refusal(headers: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
        """The body and headers of a 429 for a request over its bucket's limit."""
        retry_after = float(headers["X-RateLimit-Reset-After"])
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        extra = {"Retry-After": str(math.ceil(retry_after)), "X-RateLimit-Scope": "user", "Via": "1.1 google"}
        return body, {**headers, **extra}

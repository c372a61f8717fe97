"""Keep within Slack's rate limits without ever losing a card's final state.

- `chat.update` is Tier 3 (~50/min per workspace, short bursts allowed): updates are coalesced
  per message (the latest state wins) and paced by one token bucket per workspace. Progress
  (streamed text, "2/5 answered") is optional: it is dropped unless the bucket keeps enough
  tokens for a question's final and ranked states, which then never wait behind it.
- `chat.postMessage` allows ~1/s per channel with bursts: one bucket per channel.
- A 429 pauses the bucket for `Retry-After` seconds and the call is made again; the client's
  `AsyncRateLimitErrorRetryHandler` (see `RateLimitNotifier`) reports 429s it absorbs, too.
- An update that fails on Slack's side or on the way (`internal_error`, an HTTP 5xx, a dropped
  connection) is sent again after a backoff (exponential, with jitter), unless a newer state of
  that message replaced it meanwhile: one failed call never loses a card's final state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from adapters.retrying import Backoff

log = logging.getLogger(__name__)
_GONE = {"message_not_found", "cant_update_message", "channel_not_found", "is_archived"}
# Failures on Slack's side that the same call may well get past a moment later.
_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@dataclass(frozen=True, slots=True)
class Pacing:
    # chat.update per workspace: burst + rate x 60 s = 50, so no minute ever exceeds Tier 3's 50.
    # The burst holds a 5-model question's final and ranked states (11 updates) with room to spare.
    update_rate: float = 30 / 60
    update_burst: float = 20
    update_reserve: float = 12  # optional updates only while the bucket holds at least this many
    post_rate: float = 1.0  # chat.postMessage per second, per channel
    post_burst: float = 10  # a question with up to 8 models posts at once
    retry: Backoff = field(default_factory=Backoff)  # how a failed update is sent again


class Bucket:
    """A token bucket that can also be paused (after a 429)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)

    def available(self) -> float:
        """Tokens there would be now (0 while paused)."""
        if self.paused_until > time.monotonic():
            return 0.0
        return min(self.burst, self.tokens + (time.monotonic() - self.stamp) * self.rate)

    def unpace(self) -> None:
        """Let every waiting and later call through (a 429 still pauses it)."""
        self.rate = self.burst = self.tokens = 1e9

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                paused = self.paused_until - now
                if paused <= 0 and self.tokens >= 1:
                    self.tokens -= 1
                    return
                # Re-check at least every second: `unpace` may have opened the bucket meanwhile.
                await asyncio.sleep(min(max(paused, (1 - self.tokens) / self.rate, 0.01), 1.0))


def slack_error(exc: SlackApiError) -> str:
    """The `error` code of a failed call ("ratelimited", "not_in_channel"…), or the HTTP status
    ("http_500") when Slack (or a proxy before it) answered without one."""
    data = getattr(exc.response, "data", None)
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    status = getattr(exc.response, "status_code", None) or getattr(exc.response, "status", None)
    return f"http_{status or 'error'}"


def transient(exc: Exception) -> str | None:
    """What went wrong, when trying the same call again may work: a failure on Slack's side (an
    error such as `internal_error`, an HTTP 5xx) or on the way (a dropped connection, a timeout)."""
    if isinstance(exc, SlackApiError):
        error = slack_error(exc)
        return error if error in _TRANSIENT or error.startswith("http_5") else None
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
    return None


def retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(float(raw), 0.0)
            except ValueError:
                break
    return 1.0


class RateLimitNotifier(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 retry handler, telling the pacer which method was limited and for how long."""

    def __init__(self, on_limited: Callable[[str, float], None], max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._on_limited = on_limited

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None:
            value = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
            try:
                seconds = float(value[0] if isinstance(value, list) else value)
            except ValueError:
                seconds = 1.0
            self._on_limited(request.url.rsplit("/", 1)[-1].split("?")[0], seconds)
        await super().prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)


class Pacer:
    def __init__(self, client: AsyncWebClient, pacing: Pacing | None = None) -> None:
        self.client = client
        self.pacing = pacing or Pacing()
        self._updates: dict[str, Bucket] = {}
        self._posts: dict[str, Bucket] = {}
        self._pending: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        self._queued: Counter[str] = Counter()  # workspace -> its messages in _pending
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._closing = False

    def _update_bucket(self, workspace: str) -> Bucket:
        if workspace not in self._updates:
            self._updates[workspace] = Bucket(self.pacing.update_rate, self.pacing.update_burst)
            if self._closing:
                self._updates[workspace].unpace()
        return self._updates[workspace]

    def _post_bucket(self, channel: str) -> Bucket:
        if channel not in self._posts:
            self._posts[channel] = Bucket(self.pacing.post_rate, self.pacing.post_burst)
        return self._posts[channel]

    def limited(self, method: str, seconds: float) -> None:
        """Called on every 429: pause every bucket of that method."""
        log.info("Slack rate limited %s for %.1f s", method, seconds)
        buckets = self._updates if method == "chat.update" else self._posts if method == "chat.postMessage" else {}
        for bucket in buckets.values():
            bucket.pause(seconds)

    async def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Post a message (paced per channel) and return its ts; a 429 waits and tries again."""
        while True:
            await self._post_bucket(channel).take()
            try:
                response = await self.client.chat_postMessage(
                    channel=channel,
                    text=text,
                    blocks=blocks,
                    thread_ts=thread_ts,
                    metadata=metadata,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                return str(response["ts"])
            except SlackApiError as exc:
                if slack_error(exc) != "ratelimited":
                    raise
                self._post_bucket(channel).pause(retry_after(exc))

    def update(
        self, workspace: str, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]], optional: bool = False
    ) -> bool:
        """Queue the new state of a message; a state queued later replaces one not yet sent.
        An `optional` state is dropped (False) when the workspace's updates are running short."""
        key = (channel, ts)
        if (
            optional
            and key not in self._pending
            and self._update_bucket(workspace).available() - self._queued[workspace] < self.pacing.update_reserve
        ):
            return False
        self._put(key, (workspace, {"text": text, "blocks": blocks}))
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._drain(key))
        return True

    async def delete(self, channel: str, ts: str) -> None:
        self._take((channel, ts))
        try:
            await self.client.chat_delete(channel=channel, ts=ts)
        except SlackApiError as exc:
            if slack_error(exc) not in _GONE:
                raise

    def _put(self, key: tuple[str, str], item: tuple[str, dict[str, Any]]) -> None:
        if key not in self._pending:
            self._queued[item[0]] += 1
        self._pending[key] = item

    def _take(self, key: tuple[str, str]) -> tuple[str, dict[str, Any]] | None:
        item = self._pending.pop(key, None)
        if item is not None:
            self._queued[item[0]] -= 1
        return item

    async def _drain(self, key: tuple[str, str]) -> None:
        channel, ts = key
        failures = 0  # tries in a row that failed on the way, for this message
        try:
            while key in self._pending:
                await self._update_bucket(self._pending[key][0]).take()
                item = self._take(key)
                if item is None:
                    break
                workspace, payload = item
                try:
                    await self.client.chat_update(channel=channel, ts=ts, parse="none", **payload)
                    failures = 0
                except Exception as exc:
                    again: float | None
                    if isinstance(exc, SlackApiError) and slack_error(exc) == "ratelimited":
                        self._update_bucket(workspace).pause(retry_after(exc))  # the bucket waits it out
                        again = 0.0
                    else:
                        failures += 1
                        again = self._after_failure(exc, failures)
                    if again is None:
                        continue
                    if key not in self._pending:  # unless a newer state came meanwhile
                        self._put(key, item)
                    await asyncio.sleep(again)
        finally:
            self._tasks.pop(key, None)

    def _after_failure(self, exc: Exception, failures: int) -> float | None:
        """How long to wait before a failed update is sent again; None: it is not (logged unless
        the message is gone). Rate limits are not failures: they are waited out however long."""
        why = transient(exc)
        if why is None:
            if not isinstance(exc, SlackApiError):
                log.error("chat.update failed", exc_info=exc)
            elif slack_error(exc) not in _GONE:
                log.error("chat.update failed: %s", slack_error(exc))
            return None
        if self.pacing.retry.gives_up(failures):
            log.error("chat.update failed: %s, gave up after %d tries", why, failures)
            return None
        log.warning("chat.update failed: %s; trying again", why)
        return self.pacing.retry.wait(failures)

    async def sent(self, messages: list[tuple[str, str]]) -> None:
        """Wait until every state queued for these (channel, ts) messages was sent (or given up)."""
        while running := [self._tasks[key] for key in messages if key in self._tasks]:
            await asyncio.gather(*running, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until every queued update was sent (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def close(self, grace: float = 5.0) -> None:
        # At shutdown every card's final state matters more than the pace: send what is queued now;
        # a 429 is still waited out (Retry-After) by the client's retry handler.
        self._closing = True
        for bucket in self._updates.values():
            bucket.unpace()
        try:
            await asyncio.wait_for(self.flush(), grace)
        except TimeoutError:
            for task in list(self._tasks.values()):
                task.cancel()
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

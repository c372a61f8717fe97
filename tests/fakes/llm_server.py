"""A fake OpenAI + Anthropic server on 127.0.0.1 that the real SDKs talk to.

Endpoints "chat" (POST /v1/chat/completions) and "messages" (POST /v1/messages) each have a FIFO
script of steps, and each model may have its own (one fake serves several models at once). With
nothing scripted, a request gets `answers[model]` (text, or a function of the request JSON), else
an echo of the last user message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import RecordingServer

ENDPOINTS = {"/v1/chat/completions": "chat", "/v1/messages": "messages"}


@dataclass
class Ok:
    """A normal answer; streamed in `chunks` deltas when the client asked for a stream."""

    text: str | None = None
    delay: float = 0.0  # before the headers
    chunk_delay: float = 0.0  # between deltas
    chunks: int = 3
    cut_after: int | None = None  # close the connection after this many deltas
    fail_after: int | None = None  # send a mid-stream error event (overloaded) after this many deltas
    tokens_in: int | None = None  # default: words in the request
    tokens_out: int | None = None  # default: words in the answer
    usage: bool = True  # False: omit usage, as some compatible servers do
    gate: asyncio.Event | None = None  # answer once this is set (or after `delay`, if given)
    hold_after: int | None = None  # after this many deltas, keep the stream open until the client closes it


@dataclass
class Status:
    """Any error response. `body`: JSON, text, or a function of the provider ("openai"/"anthropic")."""

    code: int
    body: Any = None  # None: a provider-shaped "error <code>" body
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"  # "text/html" for a proxy's error page


@dataclass
class Hang:  # never answer (until `seconds` pass or the server stops)
    seconds: float = 30.0


@dataclass
class Malformed:  # a 200 whose JSON (or, when streaming, whose first SSE frame) cannot be parsed
    pass


@dataclass
class RawStream:
    """A 200 event stream of exactly these frames, for testing the clients' SSE readers."""

    frames: list[bytes | str]
    cut: bool = False  # close the connection after the frames instead of ending the body


Step = Ok | Status | Hang | Malformed | RawStream
Answer = str | Callable[[Any], str]
Body = Callable[[str], Any]


def error_body(kind: str, message: str, code: str | None = None) -> Body:
    """A provider-shaped error body, rendered for whichever endpoint serves it."""

    def render(provider: str) -> Any:
        if provider == "anthropic":
            details = {"details": {"error_code": code}} if code else {}
            return {"type": "error", "error": {"type": kind, "message": message, **details}}
        return {"error": {"message": message, "type": kind, "code": code, "param": None}}

    return render


def _shape(body: Body, provider: str | None) -> Any:
    return body(provider) if provider else body


def rate_limited(retry_after: float | None = 1, provider: str | None = None, ms: float | None = None) -> Status:
    headers = {k: f"{v:g}" for k, v in (("retry-after", retry_after), ("retry-after-ms", ms)) if v is not None}
    return Status(429, _shape(error_body("rate_limit_error", "Rate limit reached"), provider), headers)


def server_error(provider: str | None = None) -> Status:  # a 500
    return Status(500, _shape(error_body("api_error", "Internal server error"), provider))


def overloaded() -> Status:
    return Status(529, error_body("overloaded_error", "Overloaded")("anthropic"))


def unauthorized(provider: str | None = None, message: str = "Invalid API key") -> Status:
    return Status(401, _shape(error_body("authentication_error", message, "invalid_api_key"), provider))


def quota_exhausted(provider: str | None = None) -> Status:
    """OpenAI's `insufficient_quota`, or Anthropic's spend limit (a 429 that must not be retried)."""

    spend = error_body("rate_limit_error", "Spend limit reached", "enforced_spend_limit_reached")
    quota = error_body("insufficient_quota", "You exceeded your current quota", "insufficient_quota")
    return Status(429, _shape(lambda p: (spend if p == "anthropic" else quota)(p), provider))


def _split(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text) or 1))
    cuts = [round(i * len(text) / n) for i in range(n + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def _content_text(content: Any) -> str:
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content or [])


def _last_user_text(body: Any) -> str:
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    return _content_text(users[-1].get("content")) if users else ""


def _words(body: Any) -> int:
    texts = [_content_text(m.get("content")) for m in body.get("messages") or []]
    return sum(len(t.split()) for t in [*texts, _content_text(body.get("system", ""))])


class FakeLLMServer(RecordingServer):
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self._scripts: dict[tuple[str, str | None], deque[Step]] = defaultdict(deque)
        self.in_flight: dict[str, int] = defaultdict(int)  # per endpoint, now
        self.max_in_flight: dict[str, int] = defaultdict(int)  # per endpoint, the peak
        self.held_streams: list[str] = []  # models whose stream is held open now (Ok.hold_after)
        self.closed_by_client: list[str] = []  # models whose held stream the client closed
        super().__init__()

    def setup_routes(self, app: web.Application) -> None:
        for path in ENDPOINTS:
            app.router.add_post(path, self._handle)

    def script(self, endpoint: str, steps: Iterable[Step], model: str | None = None) -> None:
        """Queue steps for an endpoint ("chat" or "messages"), optionally for one model."""
        assert endpoint in ENDPOINTS.values(), endpoint
        self._scripts[(endpoint, model)].extend(steps)

    def requests(self, endpoint: str, model: str | None = None) -> list[Any]:
        """The JSON bodies received on an endpoint (optionally for one model)."""
        path = next(p for p, name in ENDPOINTS.items() if name == endpoint)
        bodies = [c.json() for c in self.calls if c.path == path]
        return [b for b in bodies if model is None or b.get("model") == model]

    async def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until `condition()` holds after a held stream opened or closed."""

        async def met() -> None:
            async with self._changed:
                await self._changed.wait_for(condition)

        try:
            await asyncio.wait_for(met(), timeout)
        except TimeoutError:
            raise AssertionError(f"expected {what}; held {self.held_streams}, closed {self.closed_by_client}") from None

    async def _hold(self, request: web.Request, model: str) -> None:
        """Keep a stream open, writing nothing, until the client closes the connection (or we stop)."""
        async with self._changed:
            self.held_streams.append(model)
            self._changed.notify_all()
        try:
            while not self.closing.is_set():
                if request.transport is None or request.transport.is_closing():
                    async with self._changed:
                        self.closed_by_client.append(model)
                        self._changed.notify_all()
                    return
                await asyncio.sleep(0.02)  # the connection's end is noticed by the server's reader
        finally:
            self.held_streams.remove(model)

    def _next_step(self, endpoint: str, model: str | None) -> Step:
        for key in ((endpoint, model), (endpoint, None)):
            if self._scripts[key]:
                return self._scripts[key].popleft()
        return Ok()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = ENDPOINTS[request.path]
        self.in_flight[endpoint] += 1
        self.max_in_flight[endpoint] = max(self.max_in_flight[endpoint], self.in_flight[endpoint])
        try:
            return await self._serve(request, endpoint)
        finally:
            self.in_flight[endpoint] -= 1

    async def _serve(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        provider = "anthropic" if endpoint == "messages" else "openai"
        auth = request.headers.get("authorization", "")
        if not (auth.startswith("Bearer ") or request.headers.get("x-api-key")):
            return self._status(unauthorized(message="No API key"), provider)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._status(Status(400, error_body("invalid_request_error", "Bad JSON")), provider)
        model = body.get("model")
        step = self._next_step(endpoint, model)
        if isinstance(step, Status):
            return self._status(step, provider)
        if isinstance(step, Hang):
            await self._wait(step.seconds)
            return self._status(Status(503), provider)
        if isinstance(step, Malformed) and not body.get("stream"):
            return web.Response(status=200, body=b'{"id": "x", "choices": [', content_type="application/json")
        if isinstance(step, RawStream):
            return await self._raw_stream(request, step)
        if isinstance(step, Malformed):  # Anthropic's SDK only parses frames with an `event:` name it knows
            head = b"event: content_block_delta\n" if endpoint == "messages" else b""
            return await self._stream(request, [head + b'data: {"broken": \n\n'])
        return await self._answer(request, endpoint, body, step)

    async def _wait(self, seconds: float, gate: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(e.wait()) for e in (self.closing, gate) if e is not None]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    @staticmethod
    async def _stream(request: web.Request, frames: list[bytes]) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for frame in frames:
            await resp.write(frame)
        return resp

    async def _raw_stream(self, request: web.Request, step: RawStream) -> web.StreamResponse:
        frames = [f.encode() if isinstance(f, str) else f for f in step.frames]
        resp = await self._stream(request, frames)
        if step.cut:
            assert request.transport is not None
            request.transport.close()
        else:
            await resp.write_eof()
        return resp

    def _status(self, step: Status, provider: str) -> web.Response:
        body = step.body or error_body("api_error", f"error {step.code}")
        if callable(body):
            body = body(provider)
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return web.Response(status=step.code, body=data, headers=step.headers, content_type=step.content_type)

    def _text_for(self, body: Any, step: Ok) -> str:
        answer = step.text if step.text is not None else self.answers.get(body.get("model"))
        if answer is None:
            return _last_user_text(body)
        return answer(body) if callable(answer) else answer

    async def _answer(self, request: web.Request, endpoint: str, body: Any, step: Ok) -> web.StreamResponse:
        if step.gate is not None or step.delay:
            await self._wait(step.delay or 60.0, step.gate)
        text = self._text_for(body, step)
        usage = (
            step.tokens_in if step.tokens_in is not None else _words(body),
            step.tokens_out if step.tokens_out is not None else len(text.split()),
        )
        model, render = str(body.get("model", "")), _FORMATS[endpoint]
        if not body.get("stream"):
            return web.json_response(render(model, text, [], usage if step.usage else None, False))
        asked = endpoint != "chat" or (body.get("stream_options") or {}).get("include_usage")
        counted = usage if step.usage and asked else None
        head, deltas, tail = render(model, text, _split(text, step.chunks), counted, True)
        resp = await self._stream(request, head)
        for i, frame in enumerate(deltas):
            if step.hold_after is not None and i >= step.hold_after:
                await self._hold(request, model)
                return resp
            if step.cut_after is not None and i >= step.cut_after:
                assert request.transport is not None
                request.transport.close()  # the client sees the stream end mid-way
                return resp
            if step.fail_after is not None and i >= step.fail_after:
                tail = [_ERRORS[endpoint]]
                break
            if i and step.chunk_delay:
                await self._wait(step.chunk_delay)
            await resp.write(frame)
        for frame in tail:
            await resp.write(frame)
        await resp.write_eof()
        return resp


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


Usage = tuple[int, int] | None


def _chat(model: str, text: str, parts: list[str], usage: Usage, stream: bool) -> Any:
    """OpenAI chat.completions: the whole reply, or SSE (head, deltas, tail) ending with [DONE]."""
    base = {"id": "chatcmpl-1", "created": 1700000000, "model": model}
    counts = (
        {"usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}
        if usage
        else {}
    )
    if not stream:
        choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        return {**base, "object": "chat.completion", "choices": [choice], **counts}

    def chunk(choices: list[Any], **extra: Any) -> bytes:
        return _sse({**base, "object": "chat.completion.chunk", "choices": choices, **extra})

    deltas = [chunk([{"index": 0, "delta": {"role": "assistant", "content": p}, "finish_reason": None}]) for p in parts]
    tail = [chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])] + ([chunk([], **counts)] if usage else [])
    return [], deltas, [*tail, _sse("[DONE]")]


def _messages(model: str, text: str, parts: list[str], usage: Usage, stream: bool) -> Any:
    """Anthropic messages. Every SSE frame has an `event:` line, or the SDK silently skips it."""
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "stop_sequence": None,
        "content": [] if stream else [{"type": "text", "text": text}],
        "stop_reason": None if stream else "end_turn",
    }
    if usage:
        message["usage"] = {"input_tokens": usage[0], "output_tokens": 1 if stream else usage[1]}
    if not stream:
        return message
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    head = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse(block, "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]
    deltas = [
        _sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
            "content_block_delta",
        )
        for p in parts
    ]
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": usage[1] if usage else 0},
    }
    tail = [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse(delta, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return head, deltas, tail


_FORMATS = {"chat": _chat, "messages": _messages}
_ERRORS = {  # a mid-stream failure: OpenAI's `error` payload, Anthropic's `event: error` (overloaded)
    "chat": _sse({"error": {"message": "The server is overloaded", "type": "server_error", "code": None}}),
    "messages": _sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error"),
}

"""A fake OpenAI + Anthropic server on 127.0.0.1 that the real SDKs talk to.

Each endpoint ("chat", "messages", "responses") has a FIFO script of steps, and each model may have its
own script too (one fake serves several models at once). With nothing scripted a request is answered
from `answers[model]` (text, or a callable taking the request JSON), else by echoing the last user
message.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import RecordingServer

ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/messages": "messages",
    "/v1/responses": "responses",
}


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
    gate: asyncio.Event | None = None  # wait for this before answering (deterministic ordering)


@dataclass
class Status:
    """Any error response. With `body=None` the body is shaped for the endpoint it is served on."""

    code: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "api_error"
    message: str = "error"
    error_code: str | None = None


@dataclass
class Hang:
    """Never answer (until `seconds` pass or the server stops)."""

    seconds: float = 30.0


@dataclass
class Malformed:
    """A 200 whose JSON (or, when streaming, whose first SSE frame) cannot be parsed."""


Step = Ok | Status | Hang | Malformed
Answer = str | Callable[[Any], str]


def _error_body(provider: str | None, error_type: str, message: str, code: str | None) -> Any:
    if provider == "anthropic":
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code:
            error["details"] = {"error_code": code}
        return {"type": "error", "error": error}
    if provider == "openai":
        return {"error": {"message": message, "type": error_type, "code": code, "param": None}}
    return None  # shaped when served


def rate_limited(retry_after: float | None = 1, provider: str | None = None, ms: float | None = None) -> Status:
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    if ms is not None:
        headers["retry-after-ms"] = f"{ms:g}"
    kind = "rate_limit_error" if provider == "anthropic" else "requests"
    msg = "Rate limit reached"
    return Status(429, _error_body(provider, kind, msg, "rate_limit_exceeded" if provider == "openai" else None),
                  headers, "rate_limit_error", msg)


def server_error(provider: str | None = None) -> Status:
    return Status(500, _error_body(provider, "api_error", "Internal server error", None),
                  error_type="api_error", message="Internal server error")


def overloaded() -> Status:
    return Status(529, _error_body("anthropic", "overloaded_error", "Overloaded", None))


def unauthorized(provider: str | None = None, message: str = "Invalid API key") -> Status:
    kind = "authentication_error" if provider == "anthropic" else "invalid_request_error"
    return Status(401, _error_body(provider, kind, message, "invalid_api_key" if provider == "openai" else None),
                  error_type="authentication_error", message=message)


def quota_exhausted(provider: str | None = None) -> Status:
    if provider == "anthropic":
        body = _error_body("anthropic", "rate_limit_error", "Spend limit reached", "enforced_spend_limit_reached")
    else:
        body = _error_body("openai", "insufficient_quota", "You exceeded your current quota", "insufficient_quota")
    return Status(429, body)


def _split(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text) or 1))
    size, extra = divmod(len(text), n)
    parts, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        parts.append(text[start:end])
        start = end
    return parts


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _last_user_text(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    if isinstance(body.get("input"), str):
        return str(body["input"])
    for message in reversed(body.get("messages") or body.get("input") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _words(body: Any) -> int:
    texts = [_content_text(m.get("content")) for m in (body.get("messages") or []) if isinstance(m, dict)]
    texts.append(_content_text(body.get("system", "")))
    return sum(len(t.split()) for t in texts)


class FakeLLMServer(RecordingServer):
    def __init__(self) -> None:
        self.answers: dict[str, Answer] = {}
        self._scripts: dict[tuple[str, str | None], deque[Step]] = defaultdict(deque)
        self.in_flight = 0
        self.max_in_flight = 0
        super().__init__()

    def setup_routes(self, app: web.Application) -> None:
        for path in ENDPOINTS:
            app.router.add_post(path, self._handle)

    def script(self, endpoint: str, steps: Iterable[Step], model: str | None = None) -> None:
        """Queue steps for an endpoint ("chat", "messages", "responses"), optionally for one model."""
        assert endpoint in ENDPOINTS.values(), endpoint
        self._scripts[(endpoint, model)].extend(steps)

    def requests(self, endpoint: str, model: str | None = None) -> list[Any]:
        """The JSON bodies received on an endpoint (optionally for one model)."""
        path = next(p for p, name in ENDPOINTS.items() if name == endpoint)
        bodies = [c.json() for c in self.calls if c.path == path]
        return [b for b in bodies if model is None or b.get("model") == model]

    def _next_step(self, endpoint: str, model: str | None) -> Step:
        for key in ((endpoint, model), (endpoint, None)):
            if self._scripts[key]:
                return self._scripts[key].popleft()
        return Ok()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._serve(request)
        finally:
            self.in_flight -= 1

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        endpoint = ENDPOINTS[request.path]
        provider = "anthropic" if endpoint == "messages" else "openai"
        if not (request.headers.get("authorization", "").startswith("Bearer ") or request.headers.get("x-api-key")):
            return self._status(unauthorized(provider, "No API key"), provider)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._status(Status(400, message="Bad JSON"), provider)
        model = body.get("model")
        step = self._next_step(endpoint, model)
        if isinstance(step, Status):
            return self._status(step, provider)
        if isinstance(step, Hang):
            await self._wait(step.seconds)
            return self._status(Status(503, message="Hung"), provider)
        if isinstance(step, Malformed):
            if body.get("stream"):
                return await self._malformed_stream(request, endpoint)
            return web.Response(status=200, body=b'{"id": "x", "choices": [', content_type="application/json")
        return await self._answer(request, endpoint, body, step)

    async def _wait(self, seconds: float, gate: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(self.closing.wait())]
        if gate is not None:
            waiters.append(asyncio.ensure_future(gate.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    def _status(self, step: Status, provider: str) -> web.Response:
        body = step.body
        if body is None:
            body = _error_body(provider, step.error_type, step.message, step.error_code)
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        return web.Response(status=step.code, body=data, headers=step.headers, content_type="application/json")

    def _text_for(self, body: Any, step: Ok) -> str:
        if step.text is not None:
            return step.text
        answer = self.answers.get(body.get("model"))
        if answer is None:
            return _last_user_text(body)
        return answer(body) if callable(answer) else answer

    async def _answer(self, request: web.Request, endpoint: str, body: Any, step: Ok) -> web.StreamResponse:
        if step.gate is not None:
            await self._wait(60.0, step.gate)
        elif step.delay:
            await self._wait(step.delay)
        text = self._text_for(body, step)
        usage = (step.tokens_in if step.tokens_in is not None else _words(body),
                 step.tokens_out if step.tokens_out is not None else len(text.split()))
        fmt = _FORMATS[endpoint]
        model = str(body.get("model", ""))
        if not body.get("stream"):
            return web.json_response(fmt.whole(model, text, usage if step.usage else None))
        include_usage = step.usage and (endpoint != "chat" or (body.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for frame in fmt.start(model, usage):
            await resp.write(frame)
        for i, part in enumerate(_split(text, step.chunks)):
            if step.cut_after is not None and i >= step.cut_after:
                assert request.transport is not None
                request.transport.close()  # the client sees the stream end mid-way
                return resp
            if step.fail_after is not None and i >= step.fail_after:
                await resp.write(fmt.error())
                await resp.write_eof()
                return resp
            if i and step.chunk_delay:
                await self._wait(step.chunk_delay)
            await resp.write(fmt.delta(model, part))
        for frame in fmt.end(model, text, usage if include_usage else None):
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _malformed_stream(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        name = {"messages": "content_block_delta", "responses": "response.output_text.delta"}.get(endpoint)
        await resp.write((f"event: {name}\n" if name else "").encode() + b'data: {"broken": \n\n')
        await resp.write_eof()
        return resp


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


class _Chat:
    @staticmethod
    def _chunk(model: str, choices: list[Any], usage: Any = None) -> dict[str, Any]:
        out = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000,
               "model": model, "choices": choices}
        if usage is not None:
            out["usage"] = usage
        return out

    @staticmethod
    def _usage(usage: tuple[int, int]) -> dict[str, int]:
        return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}

    def whole(self, model: str, text: str, usage: tuple[int, int] | None) -> Any:
        out: dict[str, Any] = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        }
        if usage is not None:
            out["usage"] = self._usage(usage)
        return out

    def start(self, model: str, usage: tuple[int, int]) -> list[bytes]:
        return []

    def delta(self, model: str, part: str) -> bytes:
        delta = {"role": "assistant", "content": part}
        return _sse(self._chunk(model, [{"index": 0, "delta": delta, "finish_reason": None}]))

    def end(self, model: str, text: str, usage: tuple[int, int] | None) -> list[bytes]:
        frames = [_sse(self._chunk(model, [{"index": 0, "delta": {}, "finish_reason": "stop"}]))]
        if usage is not None:
            frames.append(_sse(self._chunk(model, [], self._usage(usage))))
        return [*frames, _sse("[DONE]")]

    def error(self) -> bytes:
        return _sse({"error": {"message": "The server is overloaded", "type": "server_error", "code": None}})


class _Messages:
    def _message(self, model: str, content: list[Any], usage: tuple[int, int] | None, stop: str | None) -> Any:
        out: dict[str, Any] = {"id": "msg_01", "type": "message", "role": "assistant", "model": model,
                               "content": content, "stop_reason": stop, "stop_sequence": None}
        if usage is not None:
            out["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1]}
        return out

    def whole(self, model: str, text: str, usage: tuple[int, int] | None) -> Any:
        return self._message(model, [{"type": "text", "text": text}], usage, "end_turn")

    def start(self, model: str, usage: tuple[int, int]) -> list[bytes]:
        start = {"type": "message_start", "message": self._message(model, [], (usage[0], 1), None)}
        block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        return [_sse(start, "message_start"), _sse(block, "content_block_start"), _sse({"type": "ping"}, "ping")]

    def delta(self, model: str, part: str) -> bytes:
        data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}
        return _sse(data, "content_block_delta")

    def end(self, model: str, text: str, usage: tuple[int, int] | None) -> list[bytes]:
        delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": usage[1] if usage else 0}}
        return [_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
                _sse(delta, "message_delta"), _sse({"type": "message_stop"}, "message_stop")]

    def error(self) -> bytes:
        return _sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")


class _Responses:
    def whole(self, model: str, text: str, usage: tuple[int, int] | None) -> Any:
        out: dict[str, Any] = {
            "id": "resp_1", "object": "response", "created_at": 1700000000, "model": model, "status": "completed",
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                        "content": [{"type": "output_text", "text": text, "annotations": []}]}],
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
        }
        if usage is not None:
            out["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage),
                            "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens_details": {"reasoning_tokens": 0}}
        return out

    def start(self, model: str, usage: tuple[int, int]) -> list[bytes]:
        return []

    def delta(self, model: str, part: str) -> bytes:
        data = {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1",
                "output_index": 0, "content_index": 0, "delta": part, "logprobs": []}
        return _sse(data, "response.output_text.delta")

    def end(self, model: str, text: str, usage: tuple[int, int] | None) -> list[bytes]:
        done = {"type": "response.completed", "sequence_number": 2, "response": self.whole(model, text, usage)}
        return [_sse(done, "response.completed")]

    def error(self) -> bytes:
        return _sse({"type": "error", "code": "server_error", "message": "overloaded", "sequence_number": 2},
                    "error")


_FORMATS: dict[str, Any] = {"chat": _Chat(), "messages": _Messages(), "responses": _Responses()}

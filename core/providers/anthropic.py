"""Anthropic's Messages API via `anthropic.AsyncAnthropic`.

Same contract as the OpenAI provider: the SDK never retries, and every failure leaves as one
core.errors.ProviderError. The SDK sends each request and raises for error statuses; the reply is read
as plain JSON (streams through sse.py), sparing the SDK's pydantic model for every event.
A stream cut surfaces as a raw `httpx2` error, and a mid-stream `error` event (an overload, say) as an
APIStatusError with the stream's status, 200.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import httpx2
from anthropic.types import MessageParam

from core.domain import Ending
from core.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from core.providers import replies, sse, statuses
from core.providers.base import ChatRequest, Completion, OnText
from core.providers.common import (
    UnexpectedShape,
    count,
    json_list,
    json_object,
    status_error,
    transport_error,
    unreadable,
)
from core.providers.registry import ProviderConfig

# Above this the SDK insists on streaming a non-streamed call; we simply stream.
_STREAM_ABOVE_TOKENS = 16_000
# Everything sending a request or reading its reply may raise; each is translated to one ProviderError.
_ERRORS = (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError, UnexpectedShape)


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> anthropic.AsyncAnthropic:
    """One pooled SDK client; an explicit key stops the SDK looking in the environment or on disk."""
    return anthropic.AsyncAnthropic(
        api_key=api_key or "no-key-needed",
        base_url=base_url,
        max_retries=0,
        timeout=httpx2.Timeout(timeout, connect=10.0),
    )


class AnthropicProvider:
    """One Claude model. Several instances may share one SDK client (see `for_model`)."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        model: str,
        *,
        name: str = "anthropic",
        label: str = "Anthropic",
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self.model = model
        self.name = name
        self.label = label
        self.id = f"{name}/{model}"

    @classmethod
    def create(
        cls,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        name: str = "anthropic",
        label: str = "Anthropic",
        timeout: float = 300.0,
    ) -> AnthropicProvider:
        """A provider with its own client, closed by `aclose`."""
        return cls(make_client(api_key, base_url, timeout), model, name=name, label=label, owns_client=True)

    def for_model(self, model: str) -> AnthropicProvider:
        """Another model on the same pooled client; closing it leaves the client open."""
        return AnthropicProvider(self._client, model, name=self.name, label=self.label)

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        messages: list[MessageParam] = []
        for m in request.messages:  # spelled out per role for the SDK's typed message params
            if m.role == "user":
                messages.append({"role": "user", "content": m.content})
            else:
                messages.append({"role": "assistant", "content": m.content})
        system = request.system or anthropic.omit
        streaming = False
        try:
            if on_text is None and request.max_tokens <= _STREAM_ABOVE_TOKENS:
                raw = await self._client.messages.with_raw_response.create(
                    model=self.model, max_tokens=request.max_tokens, messages=messages, system=system
                )
                return self._whole(raw.http_response, raw.http_response.content)
            async with self._client.messages.with_streaming_response.create(
                model=self.model, max_tokens=request.max_tokens, messages=messages, system=system, stream=True
            ) as response:
                streaming = True
                http = response.http_response
                got = await replies.lines_or_whole(http, streaming=True)
                if not isinstance(got, bytes):
                    return await self._streamed(http, got, on_text)
                # A JSON message although a stream was asked (LiteLLM's mock does this), or a web page.
                whole = self._whole(http, got)
                if on_text is not None and whole.text:
                    await on_text(whole.text)
                return whole
        except _ERRORS as exc:
            raise self._translate(exc, streaming) from exc

    def _translate(self, exc: Exception, streaming: bool) -> ProviderError:
        label, name = self.label, self.name
        if isinstance(exc, anthropic.APITimeoutError):
            return ProviderTimeoutError(f"{label} did not answer in time", provider=name)
        if isinstance(exc, anthropic.APIConnectionError):
            text = f"connection to {label} dropped" if streaming else f"could not reach {label}"
            return ProviderUnavailableError(text, provider=name)
        if isinstance(exc, anthropic.APIStatusError):
            if exc.type == "overloaded_error":
                return ProviderUnavailableError(f"{label} is overloaded", provider=name)
            if exc.status_code < 400:  # an `error` event in the middle of a stream
                return ProviderUnavailableError(f"{label} failed while answering", provider=name)
            return status_error(
                exc.status_code,
                label,
                name,
                code=exc.error_code,
                message=exc.api_message,
                headers=exc.response.headers,
                secret=self._client.api_key,
                url=exc.request.url,
                convention=statuses.base_url_convention(name, anthropic=True),
            )
        if isinstance(exc, anthropic.APIResponseValidationError):
            return unreadable(label, name)
        if isinstance(exc, anthropic.AnthropicError):
            return ProviderResponseError(f"{label} could not complete the answer", provider=name)
        mapped = transport_error(exc, label, name, streaming)
        return mapped or ProviderUnavailableError(f"{label} failed while answering", provider=name)

    def _whole(self, response: httpx2.Response, content: bytes) -> Completion:
        if replies.is_html(response, content):
            raise replies.html_page(self.label, self.name)
        message = json_object(json.loads(replies.text_of(content)))
        blocks = [json_object(block) for block in json_list(message.get("content"))]
        text = "".join(_string(b.get("text")) for b in blocks if b.get("type") == "text")
        thinking = "\n\n".join(_string(b.get("thinking")) for b in blocks if b.get("type") == "thinking")
        usage = message.get("usage")
        return replies.completion(
            text,
            label=self.label,
            name=self.name,
            ended=ending(message.get("stop_reason")),
            thinking=thinking,
            tokens_in=count(usage, "input_tokens"),
            tokens_out=count(usage, "output_tokens"),
        )

    async def _streamed(
        self, response: httpx2.Response, lines: AsyncIterator[str], on_text: OnText | None
    ) -> Completion:
        """Text and usage from the stream's events; like the SDK, events are told apart by their `event:`
        name, and only the ones that matter are parsed (not `ping`, nor the block boundaries)."""
        text = thinking = ""
        tokens_in: int | None = None
        tokens_out: int | None = None
        stop_reason: Any = None
        finished = False
        split = replies.ThinkSplitter()
        async with contextlib.aclosing(sse.events(lines)) as events:
            async for event in events:
                if event.name == "content_block_delta":
                    delta = json_object(json_object(json.loads(event.data)).get("delta"))
                    if delta.get("type") == "thinking_delta":
                        thinking += _string(delta.get("thinking"))
                    elif delta.get("type") == "text_delta" and (piece := _string(delta.get("text"))):
                        text += piece  # not "".join(parts) per delta, which copies the whole answer every time
                        if on_text is not None and (answer := split.answer(text)):
                            await on_text(answer)
                elif event.name == "message_start":
                    message = json_object(json_object(json.loads(event.data)).get("message"))
                    tokens_in = count(message.get("usage"), "input_tokens")
                elif event.name == "message_delta":
                    data = json_object(json.loads(event.data))
                    stop_reason = json_object(data.get("delta") or {}).get("stop_reason") or stop_reason
                    # Cumulative counts: the last one wins. Some gateways send the input count only here.
                    found = count(data.get("usage"), "output_tokens")
                    tokens_out = tokens_out if found is None else found
                    tokens_in = count(data.get("usage"), "input_tokens") or tokens_in
                elif event.name == "error":  # raised as the SDK would: a status error, with the stream's 200
                    raise anthropic.APIStatusError(
                        "error event in the stream", response=response, body=json.loads(event.data)
                    )
                elif event.name == "message_stop":
                    finished = True
                    break
            if finished:
                await sse.drain(events)
        # A stop reason says how the answer ended; without one or message_stop, the body stopped early.
        ended = ending(stop_reason) if stop_reason or finished else Ending.CLOSED
        return replies.completion(
            text,
            label=self.label,
            name=self.name,
            ended=ended,
            thinking=thinking,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
        )


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


# stop_reason values that mean the answer did not end as the model meant it to.
_STOP_REASONS = {
    "max_tokens": Ending.LENGTH,
    "model_context_window_exceeded": Ending.CONTEXT,
    "refusal": Ending.REFUSED,
}


def ending(stop_reason: Any) -> Ending:
    return _STOP_REASONS.get(str(stop_reason), Ending.COMPLETE) if stop_reason else Ending.COMPLETE


class AnthropicFactory:
    """The kind "anthropic"; a provider's models share one pooled client per key."""

    def client(self, config: ProviderConfig) -> anthropic.AsyncAnthropic:
        return make_client(config.required_key(), config.base_url, config.timeout)

    def build(self, client: anthropic.AsyncAnthropic, config: ProviderConfig, model: str) -> AnthropicProvider:
        return AnthropicProvider(client, model, name=config.name, label=config.display_name)


ANTHROPIC = AnthropicFactory()

"""Anthropic's Messages API via `anthropic.AsyncAnthropic`.

Same contract as the OpenAI provider: the SDK never retries, and every failure leaves as one
core.errors.ProviderError. Anthropic needs extra care: a stream cut surfaces as a raw
`httpx2.RemoteProtocolError`, and a mid-stream overload as an APIStatusError with status 200.
"""

from __future__ import annotations

import json

import anthropic
import httpx2
from anthropic.types import MessageParam

from core.errors import (
    ProviderError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from core.providers.base import ChatRequest, Completion, OnText
from core.providers.openai import status_error, transport_error, unreadable

# Above this the SDK insists on streaming a non-streamed call; we simply stream.
_STREAM_ABOVE_TOKENS = 16_000


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> anthropic.AsyncAnthropic:
    """One pooled SDK client; an explicit key stops the SDK looking in the environment or on disk."""
    return anthropic.AsyncAnthropic(api_key=api_key or "no-key-needed", base_url=base_url, max_retries=0,
                                    timeout=httpx2.Timeout(timeout, connect=10.0))


class AnthropicProvider:
    """One Claude model. Several instances may share one SDK client (see `for_model`)."""

    def __init__(self, client: anthropic.AsyncAnthropic, model: str, *, name: str = "anthropic",
                 label: str = "Anthropic", owns_client: bool = False) -> None:
        self._client = client
        self._owns_client = owns_client
        self.model = model
        self.name = name
        self.label = label
        self.id = f"{name}/{model}"

    @classmethod
    def create(cls, model: str, *, api_key: str | None, base_url: str | None = None, name: str = "anthropic",
               label: str = "Anthropic", timeout: float = 300.0) -> AnthropicProvider:
        """A provider with its own client, closed by `aclose`."""
        return cls(make_client(api_key, base_url, timeout), model, name=name, label=label, owns_client=True)

    def for_model(self, model: str) -> AnthropicProvider:
        """Another model on the same pooled client; closing it leaves the client open."""
        return AnthropicProvider(self._client, model, name=self.name, label=self.label)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        messages: list[MessageParam] = []
        for m in request.messages:
            if m.role == "user":
                messages.append({"role": "user", "content": m.content})
            else:
                messages.append({"role": "assistant", "content": m.content})
        system = request.system or anthropic.omit
        streaming = False
        try:
            if on_text is None and request.max_tokens <= _STREAM_ABOVE_TOKENS:
                message = await self._client.messages.create(
                    model=self.model, max_tokens=request.max_tokens, messages=messages, system=system)
                text = "".join(b.text for b in message.content if b.type == "text")
                usage = message.usage
                return Completion(text, usage.input_tokens if usage else None,
                                  usage.output_tokens if usage else None)
            stream = await self._client.messages.create(
                model=self.model, max_tokens=request.max_tokens, messages=messages, system=system,
                stream=True)
            streaming = True
            parts: list[str] = []
            tokens_in: int | None = None
            tokens_out: int | None = None
            async for event in stream:
                if event.type == "message_start" and event.message.usage:
                    tokens_in = event.message.usage.input_tokens
                elif event.type == "message_delta" and event.usage:
                    tokens_out = event.usage.output_tokens
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
                    if on_text is not None:
                        await on_text("".join(parts))
            return Completion("".join(parts), tokens_in, tokens_out)
        except (anthropic.AnthropicError, httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError) as exc:
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
            return status_error(exc.status_code, label, name, code=exc.error_code, message=exc.api_message,
                                headers=exc.response.headers, secret=self._client.api_key)
        if isinstance(exc, anthropic.APIResponseValidationError):
            return unreadable(label, name)
        if isinstance(exc, anthropic.AnthropicError):
            return ProviderResponseError(f"{label} could not complete the answer", provider=name)
        mapped = transport_error(exc, label, name, streaming)
        return mapped or ProviderUnavailableError(f"{label} failed while answering", provider=name)

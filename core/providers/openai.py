"""OpenAI, and every OpenAI-compatible server (Ollama, vLLM, OpenRouter, Groq...), via `openai.AsyncOpenAI`.

The SDK never retries (`max_retries=0`): the engine's CallPolicy owns retries. Every SDK, transport and
parsing failure leaves this module as exactly one core.errors.ProviderError with a short, key-free text.
The SDK sends each request (auth, base URL, timeouts, error statuses) but the reply is read as plain
JSON: its typed request transform and per-chunk pydantic models were most of a call's CPU (see sse.py).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai

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

DUMMY_KEY = "no-key-needed"  # keyless compatible servers (Ollama): the SDK refuses to run without one

# Everything sending a request or reading its reply may raise; each is translated to one ProviderError.
_ERRORS = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError, UnexpectedShape)


def usage_counts(usage: Any) -> tuple[int | None, int | None, int | None]:
    """(input, output, reasoning) tokens of a chat usage object. Output includes the reasoning, as
    OpenAI counts it; a server that reports reasoning beside the output (its total says so) gets it
    added, since it is billed all the same."""
    tokens_in, tokens_out = count(usage, "prompt_tokens"), count(usage, "completion_tokens")
    details = usage.get("completion_tokens_details") if isinstance(usage, dict) else None
    reasoning = count(details, "reasoning_tokens")
    total = count(usage, "total_tokens")
    if reasoning and tokens_in is not None and tokens_out is not None and total == tokens_in + tokens_out + reasoning:
        tokens_out += reasoning
    return tokens_in, tokens_out, reasoning


def _usage_of(reply: dict[str, Any]) -> Any:
    """A reply's or chunk's usage; Groq sends a stream's under `x_groq`."""
    groq = reply.get("x_groq")
    return reply.get("usage") or (groq.get("usage") if isinstance(groq, dict) else None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# finish_reason values that mean the answer did not end as the model meant it to.
_FINISH_REASONS = {"length": Ending.LENGTH, "max_tokens": Ending.LENGTH, "content_filter": Ending.CONTENT_FILTER}


def ending(finish_reason: Any) -> Ending:
    return _FINISH_REASONS.get(str(finish_reason).lower(), Ending.COMPLETE) if finish_reason else Ending.COMPLETE


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    """One pooled SDK client; always an explicit key so the SDK never reads the environment."""
    return openai.AsyncOpenAI(
        api_key=api_key or DUMMY_KEY, base_url=base_url, max_retries=0, timeout=httpx2.Timeout(timeout, connect=10.0)
    )


class OpenAIProvider:
    """One model on an OpenAI-style API. Several instances may share one SDK client (see `for_model`)."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        *,
        name: str = "openai",
        label: str = "OpenAI",
        owns_client: bool = False,
        official: bool | None = None,
    ) -> None:
        self._client = client
        self._owns_client = owns_client
        self.model = model
        self.name = name
        self.label = label
        self.id = f"{name}/{model}"
        # OpenAI's own API wants max_completion_tokens; many compatible servers only know max_tokens.
        self._official = name == "openai" if official is None else official

    @classmethod
    def create(
        cls,
        model: str,
        *,
        api_key: str | None,
        base_url: str | None = None,
        name: str = "openai",
        label: str = "OpenAI",
        timeout: float = 300.0,
    ) -> OpenAIProvider:
        """A provider with its own client, closed by `aclose`."""
        return cls(make_client(api_key, base_url, timeout), model, name=name, label=label, owns_client=True)

    def for_model(self, model: str) -> OpenAIProvider:
        """Another model on the same pooled client; closing it leaves the client open."""
        return OpenAIProvider(self._client, model, name=self.name, label=self.label, official=self._official)

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        streaming = on_text is not None
        body = self._body(request, streaming=streaming)
        try:
            # The bearer key, as the SDK's chat.completions.create asks for it.
            response = await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=httpx2.Response,
                options={"security": {"bearer_auth": True}},
                stream=streaming,
            )
        except _ERRORS as exc:
            raise self._translate(exc, streaming=False) from exc
        try:
            got = await replies.lines_or_whole(response, streaming=on_text is not None)
            if not isinstance(got, bytes):
                return await self._streamed(response, got, on_text)
            # Whole, or a JSON reply or a web page although a stream was asked (some proxies answer so).
            whole = self._whole(response, got)
            if on_text is not None and whole.text:
                await on_text(whole.text)
            return whole
        except _ERRORS as exc:
            raise self._translate(exc, streaming=streaming) from exc
        finally:
            await response.aclose()

    def _body(self, request: ChatRequest, *, streaming: bool) -> dict[str, Any]:
        """The JSON body as the API documents it, sent as is: the SDK's typed `create` re-encodes every
        request through a type-driven transform, about a third of a whole call's CPU."""
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        limit = "max_completion_tokens" if self._official else "max_tokens"
        body: dict[str, Any] = {"model": self.model, "messages": messages, limit: request.max_tokens}
        if streaming:
            body.update(stream=True, stream_options={"include_usage": True})
        return body

    def _whole(self, response: httpx2.Response, content: bytes) -> Completion:
        if replies.is_html(response, content):
            raise replies.html_page(self.label, self.name)
        reply = json_object(json.loads(replies.text_of(content)))
        choices = reply.get("choices")
        if not choices:
            raise ProviderResponseError(f"{self.label} sent an empty reply", provider=self.name)
        choice = json_object(json_list(choices)[0])
        message = json_object(choice.get("message"))
        tokens_in, tokens_out, reasoning = usage_counts(_usage_of(reply))
        return replies.completion(
            _text(message.get("content")),
            label=self.label,
            name=self.name,
            ended=ending(choice.get("finish_reason")),
            thinking=_text(message.get("reasoning_content")) or _text(message.get("reasoning")),
            refusal=_text(message.get("refusal")),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            reasoning_tokens=reasoning,
        )

    async def _streamed(
        self, response: httpx2.Response, lines: AsyncIterator[str], on_text: OnText | None
    ) -> Completion:
        text = thinking = refusal = ""
        usage: Any = None
        finish_reason: Any = None
        finished = False
        split = replies.ThinkSplitter()
        async with contextlib.aclosing(sse.events(lines)) as events:
            async for event in events:
                if event.data.startswith("[DONE]"):
                    finished = True
                    break
                chunk = json_object(json.loads(event.data))
                if chunk.get("error"):
                    raise openai.APIError("error event in the stream", response.request, body=chunk["error"])
                usage = _usage_of(chunk) or usage
                grew = False
                for item in chunk.get("choices") or ():  # the usage chunk has none
                    choice = json_object(item)
                    delta = json_object(choice.get("delta") or {})
                    if piece := _text(delta.get("content")):
                        text += piece  # not "".join(parts) per delta, which copies the whole answer every time
                        grew = True
                    thinking += _text(delta.get("reasoning_content")) or _text(delta.get("reasoning"))
                    refusal += _text(delta.get("refusal"))
                    finish_reason = choice.get("finish_reason") or finish_reason
                if grew and on_text is not None and (answer := split.answer(text)):
                    await on_text(answer)
            if finished:
                await sse.drain(events)
        # A finish reason says how the answer ended; without one or [DONE], the body stopped early.
        ended = ending(finish_reason) if finish_reason or finished else Ending.CLOSED
        tokens_in, tokens_out, reasoning = usage_counts(usage)
        return replies.completion(
            text,
            label=self.label,
            name=self.name,
            ended=ended,
            thinking=thinking,
            refusal=refusal,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            reasoning_tokens=reasoning,
        )

    def _translate(self, exc: Exception, streaming: bool) -> ProviderError:
        label, name = self.label, self.name
        secret = self._client.api_key if isinstance(self._client.api_key, str) else None
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(f"{label} did not answer in time", provider=name)
        if isinstance(exc, openai.APIConnectionError):
            text = f"connection to {label} dropped" if streaming else f"could not reach {label}"
            return ProviderUnavailableError(text, provider=name)
        if isinstance(exc, openai.APIStatusError):
            body: Any = exc.body
            code = exc.code or exc.type or (body.get("code") if isinstance(body, dict) else None)
            message = body.get("message") if isinstance(body, dict) else None  # None: not a JSON body
            return status_error(
                exc.status_code,
                label,
                name,
                code=code,
                message=message,
                headers=exc.response.headers,
                secret=secret,
                url=exc.request.url,
                convention=statuses.base_url_convention(name, anthropic=False),
            )
        if isinstance(exc, openai.APIResponseValidationError):
            return unreadable(label, name)
        if isinstance(exc, openai.APIError):  # an `error` payload in the middle of a stream
            return ProviderUnavailableError(f"{label} failed while answering", provider=name)
        if isinstance(exc, openai.OpenAIError):
            return ProviderResponseError(f"{label} could not complete the answer", provider=name)
        mapped = transport_error(exc, label, name, streaming)
        return mapped or ProviderUnavailableError(f"{label} failed while answering", provider=name)


class OpenAIFactory:
    """The kinds "openai" (OpenAI's own API, which needs a key) and "openai-compatible" (any server that
    speaks it, which needs a base URL); a provider's models share one pooled client per key."""

    def __init__(self, *, official: bool) -> None:
        self.official = official

    def client(self, config: ProviderConfig) -> openai.AsyncOpenAI:
        if self.official:
            config.required_key()
        else:
            config.required_base_url("http://localhost:11434/v1 for Ollama")
        return make_client(config.api_key, config.base_url, config.timeout)

    def build(self, client: openai.AsyncOpenAI, config: ProviderConfig, model: str) -> OpenAIProvider:
        return OpenAIProvider(client, model, name=config.name, label=config.display_name, official=self.official)


OPENAI = OpenAIFactory(official=True)
OPENAI_COMPATIBLE = OpenAIFactory(official=False)

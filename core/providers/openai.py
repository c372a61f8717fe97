"""OpenAI, and every OpenAI-compatible server (Ollama, vLLM, OpenRouter, Groq...), via `openai.AsyncOpenAI`.

The SDK never retries (`max_retries=0`): the engine's CallPolicy owns retries. Every SDK, transport and
parsing failure leaves this module as exactly one core.errors.ProviderError with a short, key-free text.
The SDK sends each request (auth, base URL, timeouts, error statuses) but the reply is read as plain
JSON: its typed request transform and per-chunk pydantic models were most of a call's CPU (see sse.py).
Also home of the small helpers the Anthropic provider shares (`redact`, `retry_after_seconds`, JSON shapes).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import openai

from core.domain import Ending
from core.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from core.providers import replies, sse, statuses
from core.providers.base import ChatRequest, Completion, OnText

# sk-..., sk-ant-..., sk-proj-..., and other long bearer-ish tokens a provider might echo back.
_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk|gsk|xai|AIza)[-_][A-Za-z0-9_\-]{6,}|\bAIza[A-Za-z0-9_\-]{20,}")
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active",
                          "enforced_spend_limit_reached", "credit_balance_too_low"})
DUMMY_KEY = "no-key-needed"  # keyless compatible servers (Ollama): the SDK refuses to run without one


class UnexpectedShape(ValueError):
    """A reply that is valid JSON, but not shaped as the API documents it."""


# Everything sending a request or reading its reply may raise; each is translated to one ProviderError.
_ERRORS = (openai.OpenAIError, httpx2.HTTPError, json.JSONDecodeError, UnicodeDecodeError, UnexpectedShape)


def json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnexpectedShape(f"expected an object, got {type(value).__name__}")
    return value


def json_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise UnexpectedShape(f"expected a list, got {type(value).__name__}")
    return value


def count(usage: Any, key: str) -> int | None:
    """A token count from a usage object; None (unknown, not zero) when the server left it out."""
    value = usage.get(key) if isinstance(usage, dict) else None
    return value if isinstance(value, int) else None


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


def redact(text: str, secret: str | None = None) -> str:
    """Remove the API key, and anything that looks like a key, from text that may reach a user."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """`retry-after-ms`, else `retry-after` in seconds or as an HTTP date; None when absent or nonsense."""
    if not headers:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else max(0.0, email.utils.mktime_tz(parsed) - time.time())


def detail(message: object, secret: str | None, limit: int = 160) -> str:
    """A provider's own error text, redacted and shortened, to append after our sentence."""
    text = redact(" ".join(str(message or "").split()), secret)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def transport_error(exc: BaseException, label: str, name: str, streaming: bool) -> ProviderError | None:
    """Errors raised below the SDK (httpx2, json, a reply's shape): the same meaning whatever the provider."""
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderTimeoutError(f"{label} did not answer in time", provider=name)
    if isinstance(exc, httpx2.HTTPError):
        text = f"connection to {label} dropped" if streaming else f"could not reach {label}"
        return ProviderUnavailableError(text, provider=name)
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError | UnexpectedShape):
        return unreadable(label, name)
    return None


def unreadable(label: str, name: str) -> ProviderResponseError:
    """A garbled reply. Retryable: one bad body is usually a gateway hiccup; the retry cap bounds it."""
    error = ProviderResponseError(f"{label} sent a reply that could not be read", provider=name)
    error.retryable = True
    return error


def status_error(status: int, label: str, name: str, *, code: str | None, message: object,
                 headers: Mapping[str, str] | None, secret: str | None, url: httpx2.URL | str | None = None,
                 convention: str = "") -> ProviderError:
    """Map an HTTP error status (and the body's code) to our errors; shared by both providers.
    `message` is the provider's own text from a JSON error body, None when the body had none (an
    HTML or plain-text page from a proxy): then the status's meaning is said instead."""
    if code in _QUOTA_CODES or status == 402:
        return ProviderQuotaError(f"{label}'s quota is exhausted", provider=name)
    if status == 401:
        return ProviderAuthError(f"{label} rejected the API key", provider=name)
    if status == 403:
        return ProviderAuthError(f"{label} refused access with this API key", provider=name)
    if status == 429:
        return ProviderRateLimitedError(f"rate limited by {label}", provider=name,
                                        retry_after=retry_after_seconds(headers))
    if status in (408, 409):
        return ProviderUnavailableError(f"{label} could not take the request ({status})", provider=name)
    if status == 529:
        return ProviderUnavailableError(f"{label} is overloaded", provider=name)
    if status >= 500:
        return ProviderUnavailableError(statuses.server_failure(status, label), provider=name)
    why = detail(message, secret)
    if status == 404:
        tried = f" at {redact(statuses.shown_url(url), secret)}" if url is not None else ""
        text = f"{label} found nothing{tried} (404)" + (f": {why}" if why else "")
        return ProviderResponseError(text + (f". {convention}" if convention else ""), provider=name)
    return ProviderResponseError(f"{label} rejected the request ({status}): {why or statuses.refusal(status, label)}",
                                 provider=name)


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    """One pooled SDK client; always an explicit key so the SDK never reads the environment."""
    return openai.AsyncOpenAI(api_key=api_key or DUMMY_KEY, base_url=base_url, max_retries=0,
                              timeout=httpx2.Timeout(timeout, connect=10.0))


class OpenAIProvider:
    """One model on an OpenAI-style API. Several instances may share one SDK client (see `for_model`)."""

    def __init__(self, client: openai.AsyncOpenAI, model: str, *, name: str = "openai", label: str = "OpenAI",
                 owns_client: bool = False, official: bool | None = None) -> None:
        self._client = client
        self._owns_client = owns_client
        self.model = model
        self.name = name
        self.label = label
        self.id = f"{name}/{model}"
        # OpenAI's own API wants max_completion_tokens; many compatible servers only know max_tokens.
        self._official = name == "openai" if official is None else official

    @classmethod
    def create(cls, model: str, *, api_key: str | None, base_url: str | None = None, name: str = "openai",
               label: str = "OpenAI", timeout: float = 300.0) -> OpenAIProvider:
        """A provider with its own client, closed by `aclose`."""
        return cls(make_client(api_key, base_url, timeout), model, name=name, label=label, owns_client=True)

    def for_model(self, model: str) -> OpenAIProvider:
        """Another model on the same pooled client; closing it leaves the client open."""
        return OpenAIProvider(self._client, model, name=self.name, label=self.label, official=self._official)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        streaming = on_text is not None
        body = self._body(request, streaming=streaming)
        try:
            # The bearer key, as the SDK's chat.completions.create asks for it.
            response = await self._client.post("/chat/completions", body=body, cast_to=httpx2.Response,
                                               options={"security": {"bearer_auth": True}}, stream=streaming)
        except _ERRORS as exc:
            raise self._translate(exc, streaming=False) from exc
        try:
            if on_text is not None and replies.kind(response) == "sse":
                return await self._streamed(response, on_text)
            # Whole, or a JSON reply although a stream was asked (some proxies answer so).
            whole = self._whole(response, await response.aread())
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
            _text(message.get("content")), label=self.label, name=self.name, ended=ending(choice.get("finish_reason")),
            thinking=_text(message.get("reasoning_content")) or _text(message.get("reasoning")),
            refusal=_text(message.get("refusal")), tokens_in=tokens_in, tokens_out=tokens_out,
            reasoning_tokens=reasoning)

    async def _streamed(self, response: httpx2.Response, on_text: OnText) -> Completion:
        text = thinking = refusal = ""
        usage: Any = None
        finish_reason: Any = None
        finished = False
        split = replies.ThinkSplitter()
        async with contextlib.aclosing(sse.events(response.aiter_lines())) as events:
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
                if grew and (answer := split.answer(text)):
                    await on_text(answer)
            if finished:
                await sse.drain(events)
        # A finish reason says how the answer ended; without one or [DONE], the body stopped early.
        ended = ending(finish_reason) if finish_reason or finished else Ending.CLOSED
        tokens_in, tokens_out, reasoning = usage_counts(usage)
        return replies.completion(text, label=self.label, name=self.name, ended=ended, thinking=thinking,
                                  refusal=refusal, tokens_in=tokens_in, tokens_out=tokens_out,
                                  reasoning_tokens=reasoning)

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
            return status_error(exc.status_code, label, name, code=code, message=message,
                                headers=exc.response.headers, secret=secret, url=exc.request.url,
                                convention=statuses.base_url_convention(name, anthropic=False))
        if isinstance(exc, openai.APIResponseValidationError):
            return unreadable(label, name)
        if isinstance(exc, openai.APIError):  # an `error` payload in the middle of a stream
            return ProviderUnavailableError(f"{label} failed while answering", provider=name)
        if isinstance(exc, openai.OpenAIError):
            return ProviderResponseError(f"{label} could not complete the answer", provider=name)
        mapped = transport_error(exc, label, name, streaming)
        return mapped or ProviderUnavailableError(f"{label} failed while answering", provider=name)


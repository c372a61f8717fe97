"""The real openai / anthropic SDKs against the fake server: wire format, streaming, and error translation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

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
from core.providers import sse, statuses
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, Provider
from core.providers.common import redact, retry_after_seconds
from core.providers.openai import OpenAIProvider
from tests.fakes.llm_server import (
    FakeLLMServer,
    Hang,
    Malformed,
    Ok,
    RawStream,
    Status,
    error_body,
    overloaded,
    quota_exhausted,
    rate_limited,
    server_error,
    unauthorized,
)

OPENAI_KEY = "sk-test-0penai-SECRET-1234567890"
ANTHROPIC_KEY = "sk-ant-test-SECRET-0987654321"
REQUEST = ChatRequest((ChatMessage("user", "what is two plus two"),), system="be brief", max_tokens=64)

# (fixture name, fake endpoint, provider name as in the fake's error bodies)
KINDS = [("openai", "chat", "openai"), ("anthropic", "messages", "anthropic")]


class Providers(dict[str, Provider]):
    """Builds each provider on first use (an SDK client costs ~0.1 s to make); closed at teardown."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __missing__(self, kind: str) -> Provider:
        provider: Provider
        if kind == "openai":
            provider = OpenAIProvider.create("gpt-test", api_key=OPENAI_KEY, base_url=f"{self.url}/v1")
        else:
            provider = AnthropicProvider.create("claude-test", api_key=ANTHROPIC_KEY, base_url=self.url)
        self[kind] = provider
        return provider


@pytest.fixture
async def providers(llm_server: FakeLLMServer) -> AsyncIterator[Providers]:
    made = Providers(llm_server.url)
    yield made
    for provider in made.values():
        await provider.aclose()


class Collector:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, text: str) -> None:
        self.seen.append(text)


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
@pytest.mark.parametrize("stream", [False, True])
async def test_answers_with_text_and_usage(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str, _p: str, stream: bool
) -> None:
    llm_server.script(endpoint, [Ok("four, of course", tokens_in=11, tokens_out=3, chunks=3)])
    collect = Collector()
    completion = await providers[kind].complete(REQUEST, collect if stream else None)
    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("four, of course", 11, 3)
    if stream:  # on_text gets the whole text so far, growing
        assert collect.seen == ["four,", "four, of c", "four, of course"]
    [sent] = llm_server.requests(endpoint)
    assert bool(sent.get("stream")) is stream
    assert "temperature" not in sent
    call = llm_server.calls[-1]
    assert call.headers["x-stainless-retry-count"] == "0"
    assert call.headers["authorization"] == f"Bearer {OPENAI_KEY if kind == 'openai' else ANTHROPIC_KEY}"


async def test_openai_wire_format(llm_server: FakeLLMServer, providers: Providers) -> None:
    await providers["openai"].complete(REQUEST, Collector())
    [sent] = llm_server.requests("chat")
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["messages"][1] == {"role": "user", "content": "what is two plus two"}
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent


async def test_compatible_server_gets_max_tokens_and_a_dummy_key(llm_server: FakeLLMServer) -> None:
    ollama = OpenAIProvider.create(
        "llama3.2:3b", api_key=None, base_url=f"{llm_server.url}/v1", name="ollama", label="Ollama"
    )
    try:
        assert ollama.id == "ollama/llama3.2:3b"
        completion = await ollama.complete(REQUEST)
    finally:
        await ollama.aclose()
    assert completion.text == "what is two plus two"  # the fake echoes
    [sent] = llm_server.requests("chat")
    assert sent["model"] == "llama3.2:3b" and sent["max_tokens"] == 64
    assert llm_server.calls[-1].headers["authorization"].startswith("Bearer ")


async def test_anthropic_wire_format(llm_server: FakeLLMServer, providers: Providers) -> None:
    await providers["anthropic"].complete(REQUEST)
    [sent] = llm_server.requests("messages")
    assert sent["system"] == "be brief"
    assert sent["messages"] == [{"role": "user", "content": "what is two plus two"}]
    assert sent["max_tokens"] == 64


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
async def test_missing_usage_is_unknown_not_zero(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str, _p: str
) -> None:
    llm_server.script(endpoint, [Ok("hi", usage=False), Ok("hi", usage=False)])
    whole = await providers[kind].complete(REQUEST)
    streamed = await providers[kind].complete(REQUEST, Collector())
    assert (whole.text, whole.tokens_in, whole.tokens_out) == ("hi", None, None)
    assert (streamed.text, streamed.tokens_in) == ("hi", None)


def label(kind: str) -> str:
    return "OpenAI" if kind == "openai" else "Anthropic"


FAULTS: list[tuple[str, Any, type[ProviderError], bool, str]] = [
    # (name, step factory(provider), error class, retryable, message with {L} for the label)
    ("rate limited", lambda p: rate_limited(2.5, p), ProviderRateLimitedError, True, "rate limited by {L}"),
    ("server error", server_error, ProviderUnavailableError, True, "{L} had a server error (500)"),
    ("overloaded", lambda p: overloaded(), ProviderUnavailableError, True, "{L} is overloaded"),
    ("unauthorized", unauthorized, ProviderAuthError, False, "{L} rejected the API key"),
    ("forbidden", lambda p: Status(403), ProviderAuthError, False, "{L} refused access with this API key"),
    ("quota", quota_exhausted, ProviderQuotaError, False, "{L}'s quota is exhausted"),
    (
        "not found",
        lambda p: Status(404, error_body("not_found_error", "model: nope")),
        ProviderResponseError,
        False,
        None,
    ),  # names the URL: see test_404_names_the_url_tried_and_the_convention
    ("malformed", lambda p: Malformed(), ProviderResponseError, True, "{L} sent a reply that could not be read"),
    (
        "cut stream",
        lambda p: Ok("one two three four", cut_after=2, chunks=4),
        ProviderUnavailableError,
        True,
        "connection to {L} dropped",
    ),
    ("mid-stream error", lambda p: Ok(fail_after=1), ProviderUnavailableError, True, None),
]


STREAM_ONLY = ("cut stream", "mid-stream error")
FAULT_RUNS = [
    pytest.param(f, stream, id=f"{f[0]}-{'stream' if stream else 'whole'}")
    for f in FAULTS
    for stream in (False, True)
    if stream or f[0] not in STREAM_ONLY
]


@pytest.mark.parametrize("kind,endpoint,provider_name", KINDS)
@pytest.mark.parametrize("fault,stream", FAULT_RUNS)
async def test_every_fault_becomes_one_core_error(
    llm_server: FakeLLMServer,
    providers: Providers,
    kind: str,
    endpoint: str,
    provider_name: str,
    fault: tuple[str, Any, type[ProviderError], bool, str | None],
    stream: bool,
) -> None:
    _name, step, error_class, retryable, message = fault
    llm_server.script(endpoint, [step(provider_name)])
    with pytest.raises(error_class) as caught:
        await providers[kind].complete(REQUEST, Collector() if stream else None)
    error = caught.value
    assert error.retryable is retryable
    assert error.provider == kind
    assert error.__cause__ is not None  # raised `from` the SDK / transport error
    if message is not None:
        assert error.message == message.format(L=label(kind))
    if isinstance(error, ProviderRateLimitedError):
        assert error.retry_after == 2.5
    assert len(llm_server.calls) == 1  # the SDK never retries on its own


NGINX_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center><hr>nginx</body></html>"


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
@pytest.mark.parametrize("json_body", [False, True])
async def test_404_names_the_url_tried_and_the_convention(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str, _p: str, json_body: bool
) -> None:
    body: Any = error_body("not_found_error", "model: nope") if json_body else NGINX_PAGE.format("404 Not Found")
    llm_server.script(endpoint, [Status(404, body, content_type="application/json" if json_body else "text/html")])
    with pytest.raises(ProviderResponseError) as caught:
        await providers[kind].complete(REQUEST)
    path = "/v1/chat/completions" if kind == "openai" else "/v1/messages"
    found = f"{label(kind)} found nothing at {llm_server.url}{path} (404)"
    if kind == "openai":
        convention = "OPENAI_BASE_URL should end in /v1 (e.g. https://api.openai.com/v1)"
    else:
        convention = "ANTHROPIC_BASE_URL should not end in /v1 (e.g. https://api.anthropic.com)"
    why = ": model: nope" if json_body else ""
    assert caught.value.message == f"{found}{why}. {convention}"
    assert not caught.value.retryable


async def test_404_of_a_compatible_server_names_its_own_setting(llm_server: FakeLLMServer) -> None:
    # A base URL without /v1: the SDK posts to /chat/completions, which the server does not serve.
    proxy = OpenAIProvider.create(
        "m", api_key="sk-test-key-123456", base_url=llm_server.url, name="litellm", label="LiteLLM"
    )
    try:
        with pytest.raises(ProviderResponseError) as caught:
            await proxy.complete(REQUEST)
    finally:
        await proxy.aclose()
    assert caught.value.message.startswith(f"LiteLLM found nothing at {llm_server.url}/chat/completions (404)")
    assert caught.value.message.endswith("LITELLM_BASE_URL should end in /v1 (e.g. http://localhost:11434/v1)")


# (status, body a proxy sends, what the person reads after "<label> ")
PAGES = [
    (
        413,
        NGINX_PAGE.format("413 Request Entity Too Large"),
        "{L} rejected the request (413): the request is too large for {L}",
    ),
    (400, "Bad Request", "{L} rejected the request (400): {L} could not understand the request"),
    (418, "I'm a teapot", "{L} rejected the request (418): {L} refused it"),
    (502, NGINX_PAGE.format("502 Bad Gateway"), "a gateway in front of {L} got no valid answer from it (502)"),
    (503, "upstream connect error", "{L} is unavailable or overloaded (503)"),
    (504, NGINX_PAGE.format("504 Gateway Time-out"), "a gateway in front of {L} timed out waiting for it (504)"),
    (500, "<html>oops</html>", "{L} had a server error (500)"),
]


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
@pytest.mark.parametrize("status,page,expected", PAGES, ids=[str(p[0]) for p in PAGES])
async def test_an_error_page_says_what_its_status_means(
    llm_server: FakeLLMServer,
    providers: Providers,
    kind: str,
    endpoint: str,
    _p: str,
    status: int,
    page: str,
    expected: str,
) -> None:
    llm_server.script(endpoint, [Status(status, page, content_type="text/html")])
    with pytest.raises(ProviderError) as caught:
        await providers[kind].complete(REQUEST, Collector())
    assert caught.value.message == expected.format(L=label(kind))
    assert "Error code" not in caught.value.message and "<" not in caught.value.message
    assert caught.value.retryable is (status >= 500)


def test_the_url_shown_drops_credentials_and_query() -> None:
    shown = statuses.shown_url("https://user:sk-secret-123456@gw.example.com:8443/v1/chat?key=AIzaSecret")
    assert shown == "https://gw.example.com:8443/v1/chat"


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
async def test_sdk_timeout_is_a_timeout_error(llm_server: FakeLLMServer, kind: str, endpoint: str, _p: str) -> None:
    cls: Any = OpenAIProvider if kind == "openai" else AnthropicProvider
    base = f"{llm_server.url}/v1" if kind == "openai" else llm_server.url
    provider = cls.create("m", api_key="sk-test-key-123456", base_url=base, timeout=0.2)
    llm_server.script(endpoint, [Hang(5)])
    try:
        with pytest.raises(ProviderTimeoutError, match=f"{label(kind)} did not answer in time"):
            await provider.complete(REQUEST)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_unreachable_server_is_unavailable(unused_tcp_port: int, kind: str) -> None:
    cls: Any = OpenAIProvider if kind == "openai" else AnthropicProvider
    provider = cls.create("m", api_key="sk-test-key-123456", base_url=f"http://127.0.0.1:{unused_tcp_port}")
    try:
        with pytest.raises(ProviderUnavailableError, match=f"could not reach {label(kind)}"):
            await provider.complete(REQUEST)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("kind,endpoint,provider_name", KINDS)
@pytest.mark.parametrize("status", [400, 401, 403, 422, 429, 500])
async def test_the_key_never_reaches_an_error_message(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str, provider_name: str, status: int
) -> None:
    key = OPENAI_KEY if kind == "openai" else ANTHROPIC_KEY
    echo = f"Incorrect API key provided: {key}. Also tried sk-proj-abcdef123456 and {key[:-4]}."
    llm_server.script(endpoint, [Status(status, error_body("invalid_request_error", echo))])
    with pytest.raises(ProviderError) as caught:
        await providers[kind].complete(REQUEST)
    text = f"{caught.value} {caught.value.message!r}"
    assert key not in text and key[:-4] not in text and "sk-proj-abcdef" not in text
    assert label(kind) in text


def test_redact() -> None:
    assert redact("key my-own-secret-value here", "my-own-secret-value") == "key [redacted] here"
    assert redact("sk-ant-api03-AbC_dEf-123 and sk-proj-xyz12345678") == "[redacted] and [redacted]"
    assert redact("nothing secret, skills and risk-free") == "nothing secret, skills and risk-free"


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None
    when = retry_after_seconds({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert when is not None and when > 1000


async def test_models_share_one_client_and_answer_differently(llm_server: FakeLLMServer) -> None:
    base = OpenAIProvider.create("a", api_key="sk-test-key-123456", base_url=f"{llm_server.url}/v1")
    other = base.for_model("b")
    llm_server.answers["a"] = "from a"
    llm_server.answers["b"] = lambda body: f"from b: {body['messages'][-1]['content']}"
    try:
        a, b = await asyncio.gather(base.complete(REQUEST), other.complete(REQUEST))
        await other.aclose()  # does not close the shared client
        again = await base.complete(REQUEST)
    finally:
        await base.aclose()
    assert (a.text, b.text, again.text) == ("from a", "from b: what is two plus two", "from a")
    assert other.id == "openai/b"


# -- the raw SSE readers: the SDK sends the request, the providers read the event stream themselves --


def chat_chunk(text: str | None = None, usage: tuple[int, int] | None = None) -> str:
    choices = [] if text is None else [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    extra = {"usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}} if usage else {}
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "choices": choices, **extra})


def anthropic_event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def text_delta(text: str) -> str:
    return anthropic_event(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
    )


async def test_openai_stream_reader_follows_the_sse_format(llm_server: FakeLLMServer, providers: Providers) -> None:
    # Keep-alive comments, id/retry fields, CRLF line ends, JSON split over two `data:` lines, and
    # whatever follows [DONE] (a well-behaved server sends nothing; it is ignored).
    split = chat_chunk("lo").replace(', "choices"', ',\ndata: "choices"')
    frames = [
        ": keep-alive\n\n",
        "retry: 3000\nid: 1\n",
        f"data: {chat_chunk('Hel')}\r\n\r\n",
        ": still here\n",
        f"data: {split}\n\n",
        f"data: {chat_chunk(usage=(7, 2))}\n\n",
        "data: [DONE]\n\n",
        "data: {not json\n\n",
    ]
    llm_server.script("chat", [RawStream(frames)])
    collect = Collector()
    completion = await providers["openai"].complete(REQUEST, collect)
    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("Hello", 7, 2)
    assert collect.seen == ["Hel", "Hello"]


async def test_openai_stream_without_done_keeps_what_arrived_and_says_it_was_cut(
    llm_server: FakeLLMServer, providers: Providers
) -> None:
    # The body ends cleanly but early; an event without its blank line is unfinished and dropped.
    frames = [f"data: {chat_chunk('partial')}\n\n", 'data: {"choices": [{"delta": {"content": "x"']
    llm_server.script("chat", [RawStream(frames)])
    completion = await providers["openai"].complete(REQUEST, Collector())
    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("partial", None, None)
    assert completion.ended is Ending.CLOSED


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
async def test_a_stream_cut_inside_an_event_is_a_dropped_connection(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str
) -> None:
    first = f"data: {chat_chunk('one ')}\n\n" if kind == "openai" else text_delta("one ")
    llm_server.script(endpoint, [RawStream([first, 'data: {"choices": [{"del'], cut=True)])
    collect = Collector()
    with pytest.raises(ProviderUnavailableError, match=f"connection to {label(kind)} dropped") as caught:
        await providers[kind].complete(REQUEST, collect)
    assert caught.value.retryable and caught.value.__cause__ is not None
    assert collect.seen == ["one "]


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
async def test_garbled_event_json_could_not_be_read(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str
) -> None:
    bad = 'data: {"choices": [\n\n' if kind == "openai" else 'event: message_delta\ndata: {"usage": \n\n'
    llm_server.script(endpoint, [RawStream([bad])])
    with pytest.raises(ProviderResponseError, match="could not be read") as caught:
        await providers[kind].complete(REQUEST, Collector())
    assert caught.value.retryable


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
async def test_json_of_the_wrong_shape_could_not_be_read(
    llm_server: FakeLLMServer, providers: Providers, kind: str, endpoint: str
) -> None:
    streamed = "data: [1, 2]\n\n" if kind == "openai" else 'event: content_block_delta\ndata: {"delta": "hi"}\n\n'
    whole = {"choices": [{"text": "no message"}]} if kind == "openai" else {"content": "not a list"}
    llm_server.script(endpoint, [RawStream([streamed]), Status(200, whole)])
    for on_text in (Collector(), None):
        with pytest.raises(ProviderResponseError, match="could not be read") as caught:
            await providers[kind].complete(REQUEST, on_text)
        assert caught.value.retryable and caught.value.__cause__ is not None


async def test_openai_reply_without_choices_is_empty(llm_server: FakeLLMServer, providers: Providers) -> None:
    llm_server.script("chat", [Status(200, {"id": "c1", "choices": []})])
    with pytest.raises(ProviderResponseError, match="OpenAI sent an empty reply") as caught:
        await providers["openai"].complete(REQUEST)
    assert not caught.value.retryable


async def test_openai_error_payload_mid_stream(llm_server: FakeLLMServer, providers: Providers) -> None:
    error = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
    llm_server.script("chat", [RawStream([f"data: {chat_chunk('Hi')}\n\n", f"data: {json.dumps(error)}\n\n"])])
    collect = Collector()
    with pytest.raises(ProviderUnavailableError, match="OpenAI failed while answering") as caught:
        await providers["openai"].complete(REQUEST, collect)
    assert caught.value.retryable and collect.seen == ["Hi"]


async def test_anthropic_stream_reader_skips_what_it_does_not_need(
    llm_server: FakeLLMServer, providers: Providers
) -> None:
    # Pings, comments, events it does not know (even unparseable), frames without an `event:` name
    # (the SDK skips those too), non-text deltas; the last message_delta carries the output count.
    start = {"type": "message_start", "message": {"id": "m", "content": [], "usage": {"input_tokens": 9}}}
    thinking = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}
    frames = [
        anthropic_event("message_start", start),
        ": keep-alive\n\n",
        anthropic_event("ping", {"type": "ping"}),
        "event: future_event\ndata: {not json\n\n",
        f"data: {json.dumps({'type': 'ping'})}\n\n",
        anthropic_event("content_block_delta", thinking),
        text_delta("Hi "),
        text_delta("there"),
        anthropic_event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 1}}),
        anthropic_event("message_delta", {"type": "message_delta", "usage": {"output_tokens": 4}}),
        anthropic_event("message_stop", {"type": "message_stop"}),
        "event: message_delta\ndata: {oops\n\n",
    ]
    llm_server.script("messages", [RawStream(frames)])
    collect = Collector()
    completion = await providers["anthropic"].complete(REQUEST, collect)
    assert (completion.text, completion.tokens_in, completion.tokens_out) == ("Hi there", 9, 4)
    assert collect.seen == ["Hi ", "Hi there"]


async def test_anthropic_error_event_that_is_not_an_overload(llm_server: FakeLLMServer, providers: Providers) -> None:
    error = {"type": "error", "error": {"type": "api_error", "message": "Internal error"}}
    llm_server.script("messages", [RawStream([text_delta("Hi"), anthropic_event("error", error)])])
    with pytest.raises(ProviderUnavailableError, match="Anthropic failed while answering") as caught:
        await providers["anthropic"].complete(REQUEST, Collector())
    assert caught.value.retryable and caught.value.__cause__ is not None


@pytest.mark.parametrize("kind,endpoint,_p", KINDS)
async def test_a_stalled_stream_is_a_timeout(llm_server: FakeLLMServer, kind: str, endpoint: str, _p: str) -> None:
    cls: Any = OpenAIProvider if kind == "openai" else AnthropicProvider
    base = f"{llm_server.url}/v1" if kind == "openai" else llm_server.url
    provider = cls.create("m", api_key="sk-test-key-123456", base_url=base, timeout=0.3)
    llm_server.script(endpoint, [Ok("one two three", chunks=3, chunk_delay=2.0)])
    collect = Collector()
    try:
        with pytest.raises(ProviderTimeoutError, match=f"{label(kind)} did not answer in time"):
            await provider.complete(REQUEST, collect)
    finally:
        await provider.aclose()
    assert collect.seen == ["one "]


async def test_sse_events_joins_data_lines_and_drops_an_unfinished_event() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ["event: a", "data: 1", "data:2", "", ":comment", "", "data: x", "id: 7", "", "data: tail"]:
            yield line

    assert [(e.name, e.data) async for e in sse.events(lines())] == [("a", "1\n2"), ("", "x")]


async def test_sse_events_skips_an_event_with_empty_data() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in ["data:", "", "event: ping", "data: ", "", "data: 1", ""]:
            yield line

    assert [(e.name, e.data) async for e in sse.events(lines())] == [("", "1")]

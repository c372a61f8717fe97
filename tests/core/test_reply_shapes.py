"""Recorded reply shapes of the providers people point the bot at, read by the real providers.

Each fixture is one body as the provider's documentation shows it (cited in its docstring), served
by the fake server to the real SDK, streamed or whole, on the OpenAI-compatible and the Anthropic
paths. Each test asserts what the answer keeps, how it ended, and what a person is told.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from core.domain import Ending
from core.errors import ProviderResponseError, ProviderUnavailableError
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest, Completion
from core.providers.openai import OpenAIProvider
from core.providers.replies import no_answer, split_thinking
from tests.fakes.llm_server import FakeLLMServer, RawStream, Status

REQUEST = ChatRequest((ChatMessage("user", "what is two plus two"),), system="be brief", max_tokens=64)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> str:
    """One chat.completion.chunk as an SSE frame."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "m",
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


def chat(message: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """One whole chat.completion."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        **({"usage": usage} if usage else {}),
    }


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"


def claude_stream(
    *deltas: dict[str, Any],
    stop: str | None = "end_turn",
    end: bool = True,
    start_usage: dict[str, Any] | None = None,
    delta_usage: dict[str, Any] | None = None,
) -> list[str]:
    """message_start … content_block_delta × N … message_delta, message_stop (Anthropic's streaming guide)."""
    frames = [
        event(
            "message_start",
            {
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "usage": start_usage or {"input_tokens": 10, "output_tokens": 1},
                }
            },
        ),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    frames += [event("content_block_delta", {"index": 0, "delta": d}) for d in deltas]
    if stop is not None:
        frames += [
            event("content_block_stop", {"index": 0}),
            event(
                "message_delta",
                {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": delta_usage or {"output_tokens": 20}},
            ),
        ]
    if end:
        frames.append(event("message_stop", {}))
    return frames


def text(value: str) -> dict[str, Any]:
    return {"type": "text_delta", "text": value}


# -- OpenAI and OpenAI-compatible ------------------------------------------------------------------


def openai_length_streamed() -> RawStream:
    """OpenAI Chat Completions reference: finish_reason "length" when the max tokens were reached."""
    return RawStream(
        [chunk({"role": "assistant", "content": "The answer is"}), chunk({}, "length"), "data: [DONE]\n\n"]
    )


def openai_content_filter_whole() -> Status:
    """OpenAI / Azure OpenAI: finish_reason "content_filter" when content was omitted by the filter."""
    return Status(200, chat({"content": "Here is how"}, "content_filter"))


def deepseek_reasoning_content_streamed() -> RawStream:
    """DeepSeek reasoning model guide: the chain of thought streams in `delta.reasoning_content`."""
    return RawStream(
        [
            chunk({"role": "assistant", "reasoning_content": "Two plus two"}),
            chunk({"reasoning_content": " is four."}),
            chunk({"content": "4"}),
            chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    )


def openrouter_reasoning_whole() -> Status:
    """OpenRouter reasoning tokens guide: the reasoning is in the message's `reasoning` field."""
    return Status(200, chat({"content": "4", "reasoning": "Adding two and two."}))


def qwen3_think_tags_streamed() -> RawStream:
    """Qwen3 / DeepSeek-R1 through Ollama or vLLM without a reasoning parser: `<think>` inside the
    content (Qwen3 model card: thinking content wrapped in <think>…</think>), the tag split across deltas."""
    return RawStream(
        [
            chunk({"role": "assistant", "content": "<thi"}),
            chunk({"content": "nk>\nThe user wants "}),
            chunk({"content": "a sum.</th"}),
            chunk({"content": "ink>\n\nFour."}),
            chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    )


def r1_think_only_whole() -> Status:
    """DeepSeek-R1 through vLLM, output limit reached while thinking: an unclosed <think>, finish "length"."""
    return Status(
        200,
        chat(
            {"content": "<think>\nOkay, the user wants"},
            "length",
            {"prompt_tokens": 12, "completion_tokens": 64, "total_tokens": 76},
        ),
    )


def gpt5_mini_all_reasoning_whole() -> Status:
    """OpenAI reasoning guide: reasoning tokens count against max_completion_tokens; when they use it
    all the content is empty, finish_reason "length", and usage reports the reasoning tokens."""
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 2048,
        "total_tokens": 2078,
        "completion_tokens_details": {"reasoning_tokens": 2048},
    }
    return Status(200, chat({"content": ""}, "length", usage))


def openai_refusal_streamed() -> RawStream:
    """OpenAI structured outputs guide: a refusal arrives in `refusal` (delta.refusal when streamed)."""
    return RawStream(
        [
            chunk({"role": "assistant", "content": None, "refusal": "I'm sorry, "}),
            chunk({"refusal": "I can't help with that."}),
            chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    )


def openai_refusal_whole() -> Status:
    """OpenAI structured outputs guide: `message.refusal` set, `content` null."""
    return Status(200, chat({"content": None, "refusal": "I can't help with that."}))


def groq_usage_streamed() -> RawStream:
    """Groq API reference: a stream's usage arrives in the last chunk under `x_groq.usage`."""
    usage = {"prompt_tokens": 18, "completion_tokens": 5, "total_tokens": 23}
    return RawStream(
        [
            chunk({"role": "assistant", "content": "Four."}),
            chunk({}, "stop", x_groq={"id": "req_1", "usage": usage}),
            "data: [DONE]\n\n",
        ]
    )


def gateway_heartbeat_streamed() -> RawStream:
    """A gateway heartbeat: an empty `data:` line, which the SSE specification says not to dispatch."""
    return RawStream(
        [
            "data:\n\n",
            chunk({"role": "assistant", "content": "Four."}),
            "data:\n\n",
            chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    )


def reasoning_beside_output_whole() -> Status:
    """A compatible server that reports reasoning tokens beside the completion tokens (its total counts
    both): the reasoning is billed output all the same."""
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 115,
        "completion_tokens_details": {"reasoning_tokens": 100},
    }
    return Status(200, chat({"content": "Four."}, "stop", usage))


# -- Anthropic -------------------------------------------------------------------------------------


def claude_max_tokens_streamed() -> RawStream:
    """Anthropic Messages streaming: message_delta carries stop_reason "max_tokens" when the limit was hit."""
    return RawStream(claude_stream(text("The answer "), text("is"), stop="max_tokens"))


def claude_thinking_streamed() -> RawStream:
    """Anthropic extended thinking, streamed: thinking_delta events in a thinking block, then the text."""
    return RawStream(
        claude_stream(
            {"type": "thinking_delta", "thinking": "Two and two."},
            {"type": "signature_delta", "signature": "EqQB"},
            text("Four."),
        )
    )


def claude_gateway_usage_streamed() -> RawStream:
    """Anthropic streaming guide: message_delta usage is cumulative and may carry input_tokens;
    gateways (OpenRouter) send 0 in message_start and the real count only there."""
    return RawStream(
        claude_stream(
            text("Four."),
            start_usage={"input_tokens": 0, "output_tokens": 0},
            delta_usage={"input_tokens": 42, "output_tokens": 7},
        )
    )


def claude_refusal_whole() -> Status:
    """Anthropic: stop_reason "refusal" when the model declines; the text so far is kept."""
    return Status(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": "I can't help with that."}],
            "stop_reason": "refusal",
            "usage": {"input_tokens": 9, "output_tokens": 8},
        },
    )


def claude_thinking_whole() -> Status:
    """Anthropic extended thinking: a `thinking` block before the `text` block; max_tokens reached."""
    return Status(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [
                {"type": "thinking", "thinking": "Two and two.", "signature": "EqQB"},
                {"type": "text", "text": "Four, and"},
            ],
            "stop_reason": "max_tokens",
            "usage": {"input_tokens": 9, "output_tokens": 64},
        },
    )


def litellm_json_to_a_stream() -> Status:
    """LiteLLM's Anthropic-format mock answers a `stream: true` request with one JSON message."""
    return Status(
        200,
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [{"type": "text", "text": "Four."}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 9, "output_tokens": 2},
        },
    )


def openai_json_to_a_stream() -> Status:
    """A proxy that ignores `stream: true` and sends the whole chat.completion as JSON."""
    return Status(200, chat({"content": "Four."}, "stop", {"prompt_tokens": 9, "completion_tokens": 2}))


# (fixture, kind, streamed, text, ended, thinking, tokens in, tokens out)
SHAPES: list[tuple[Callable[[], Any], str, bool, str, Ending, str, int | None, int | None]] = [
    (openai_length_streamed, "openai", True, "The answer is", Ending.LENGTH, "", None, None),
    (openai_content_filter_whole, "openai", False, "Here is how", Ending.CONTENT_FILTER, "", None, None),
    (deepseek_reasoning_content_streamed, "openai", True, "4", Ending.COMPLETE, "Two plus two is four.", None, None),
    (openrouter_reasoning_whole, "openai", False, "4", Ending.COMPLETE, "Adding two and two.", None, None),
    (qwen3_think_tags_streamed, "openai", True, "Four.", Ending.COMPLETE, "The user wants a sum.", None, None),
    (r1_think_only_whole, "openai", False, "", Ending.LENGTH, "Okay, the user wants", 12, 64),
    (gpt5_mini_all_reasoning_whole, "openai", False, "", Ending.LENGTH, "", 30, 2048),
    (openai_refusal_streamed, "openai", True, "I'm sorry, I can't help with that.", Ending.REFUSED, "", None, None),
    (openai_refusal_whole, "openai", False, "I can't help with that.", Ending.REFUSED, "", None, None),
    (groq_usage_streamed, "openai", True, "Four.", Ending.COMPLETE, "", 18, 5),
    (gateway_heartbeat_streamed, "openai", True, "Four.", Ending.COMPLETE, "", None, None),
    (reasoning_beside_output_whole, "openai", False, "Four.", Ending.COMPLETE, "", 10, 105),
    (openai_json_to_a_stream, "openai", True, "Four.", Ending.COMPLETE, "", 9, 2),
    (claude_max_tokens_streamed, "anthropic", True, "The answer is", Ending.LENGTH, "", 10, 20),
    (claude_thinking_streamed, "anthropic", True, "Four.", Ending.COMPLETE, "Two and two.", 10, 20),
    (claude_gateway_usage_streamed, "anthropic", True, "Four.", Ending.COMPLETE, "", 42, 7),
    (claude_refusal_whole, "anthropic", False, "I can't help with that.", Ending.REFUSED, "", 9, 8),
    (claude_thinking_whole, "anthropic", False, "Four, and", Ending.LENGTH, "Two and two.", 9, 64),
    (litellm_json_to_a_stream, "anthropic", True, "Four.", Ending.COMPLETE, "", 9, 2),
]


@pytest.fixture
async def provider_for(llm_server: FakeLLMServer) -> AsyncIterator[Callable[[str], Any]]:
    made: list[Any] = []

    def build(kind: str) -> Any:
        provider: Any
        if kind == "openai":
            provider = OpenAIProvider.create("m", api_key="sk-test-key-123456", base_url=f"{llm_server.url}/v1")
        else:
            provider = AnthropicProvider.create("m", api_key="sk-ant-test-123456", base_url=llm_server.url)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


class Seen:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, text: str) -> None:
        self.texts.append(text)


@pytest.mark.parametrize(
    "shape,kind,streamed,answer,ended,thinking,tokens_in,tokens_out", SHAPES, ids=[s[0].__name__ for s in SHAPES]
)
async def test_recorded_shape(
    llm_server: FakeLLMServer,
    provider_for: Callable[[str], Any],
    shape: Callable[[], Any],
    kind: str,
    streamed: bool,
    answer: str,
    ended: Ending,
    thinking: str,
    tokens_in: int | None,
    tokens_out: int | None,
) -> None:
    llm_server.script("chat" if kind == "openai" else "messages", [shape()])
    seen = Seen()
    completion: Completion = await provider_for(kind).complete(REQUEST, seen if streamed else None)
    assert (completion.text, completion.ended, completion.thinking) == (answer, ended, thinking)
    assert (completion.tokens_in, completion.tokens_out) == (tokens_in, tokens_out)
    assert all("<think>" not in t and "</th" not in t for t in seen.texts)  # the preview never shows reasoning
    if streamed and answer and ended is not Ending.REFUSED:
        assert seen.texts[-1] == answer


@pytest.mark.parametrize(
    "shape,expected",
    [
        (
            gpt5_mini_all_reasoning_whole,
            "no answer: the model used its whole output limit on reasoning — raise the limit (CONSENSUS_MAX_TOKENS)",
        ),
        (
            r1_think_only_whole,
            "no answer: the model used its whole output limit on reasoning — raise the limit (CONSENSUS_MAX_TOKENS)",
        ),
    ],
)
async def test_an_answer_spent_on_reasoning_says_so(
    llm_server: FakeLLMServer, provider_for: Callable[[str], Any], shape: Callable[[], Any], expected: str
) -> None:
    llm_server.script("chat", [shape()])
    completion = await provider_for("openai").complete(REQUEST)
    assert completion.text == "" and no_answer(completion) == expected


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
@pytest.mark.parametrize(
    "streamed,content_type",
    [
        (False, "text/html"),
        (True, "text/html"),
        # A proxy that labels whatever it sends as the stream that was asked for, or as bytes.
        (True, "text/event-stream"),
        (True, "application/octet-stream"),
    ],
)
async def test_an_html_page_is_not_an_answer(
    llm_server: FakeLLMServer,
    provider_for: Callable[[str], Any],
    kind: str,
    endpoint: str,
    streamed: bool,
    content_type: str,
) -> None:
    page = "\n<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
    llm_server.script(endpoint, [Status(200, page, content_type=content_type)])
    name = "OpenAI" if kind == "openai" else "Anthropic"
    with pytest.raises(ProviderResponseError) as caught:
        await provider_for(kind).complete(REQUEST, Seen() if streamed else None)
    assert caught.value.message == f"{name} sent an HTML page instead of an answer (is the base URL right?)"
    assert not caught.value.retryable


async def test_a_json_reply_labelled_as_a_stream_is_read_whole(
    llm_server: FakeLLMServer, provider_for: Callable[[str], Any]
) -> None:
    llm_server.script("chat", [Status(200, chat({"content": "It is 4."}), content_type="text/event-stream")])
    seen = Seen()
    completion = await provider_for("openai").complete(REQUEST, seen)
    assert (completion.text, completion.ended, seen.texts) == ("It is 4.", Ending.COMPLETE, ["It is 4."])


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
async def test_text_that_is_not_utf8_reads_alike_streamed_and_whole(
    llm_server: FakeLLMServer, provider_for: Callable[[str], Any], kind: str, endpoint: str
) -> None:
    # Latin-1 "café" where UTF-8 was promised: the same answer either way, and it says so.
    if kind == "openai":
        whole = json.dumps(chat({"content": "café"})).encode().replace(b"caf\\u00e9", b"caf\xe9")
        frames: list[bytes | str] = [
            chunk({"content": "café"}).encode().replace(b"caf\\u00e9", b"caf\xe9"),
            chunk({}, "stop"),
            "data: [DONE]\n\n",
        ]
    else:
        message = {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "café"}],
        }
        whole = json.dumps(message).encode().replace(b"caf\\u00e9", b"caf\xe9")
        frames = [f.encode().replace(b"caf\\u00e9", b"caf\xe9") for f in claude_stream(text("café"))]
    llm_server.script(endpoint, [Status(200, whole), RawStream(frames)])
    provider = provider_for(kind)
    read = [await provider.complete(REQUEST), await provider.complete(REQUEST, Seen())]
    assert [(c.text, c.replaced_characters) for c in read] == [("caf\ufffd", True)] * 2


@pytest.mark.parametrize("kind,endpoint", [("openai", "chat"), ("anthropic", "messages")])
async def test_a_stream_that_stops_before_its_end_keeps_what_arrived(
    llm_server: FakeLLMServer, provider_for: Callable[[str], Any], kind: str, endpoint: str
) -> None:
    if kind == "openai":
        frames = [chunk({"content": "partial"}), 'data: {"choices": [{"delta": {"content": "x"']
        nothing = [": keep-alive\n\n"]
    else:
        frames = claude_stream(text("partial"), stop=None, end=False)
        nothing = frames[:2]  # message_start, content_block_start
    llm_server.script(endpoint, [RawStream(frames), RawStream(nothing)])
    provider = provider_for(kind)
    completion = await provider.complete(REQUEST, Seen())
    assert (completion.text, completion.ended) == ("partial", Ending.CLOSED)
    # Nothing arrived at all: no answer to keep, so it fails as a dropped connection, worth a retry.
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.complete(REQUEST, Seen())
    label = "OpenAI" if kind == "openai" else "Anthropic"
    assert caught.value.message == f"the connection to {label} closed before the answer began"
    assert caught.value.retryable


@pytest.mark.parametrize(
    "content,answer,thinking",
    [
        ("plain answer", "plain answer", ""),
        ("  <think>a</think>  b", "b", "a"),
        ("<think>never closed", "", "never closed"),
        ("<thin", "", ""),  # still undecided
        ("answer mentioning </think> and <think>", "answer mentioning </think> and <think>", ""),
        ("<think>\n</think>\n\nb", "b", ""),
    ],
)
def test_split_thinking(content: str, answer: str, thinking: str) -> None:
    assert split_thinking(content) == (answer, thinking)

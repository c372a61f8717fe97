"""How each answer ended, end to end on SQLite and PostgreSQL: cut answers keep their text, say
so and can be retried; reasoning stays out of the answer; an empty answer is a failure with its reason."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.terminal.render import batch_json
from core.context import build_history
from core.domain import Actor, AnswerStatus, Ending, Platform, Question, WorkspaceRef
from core.providers.limits import DEFAULT_LIMIT, REASONING_LIMIT, OutputLimits
from core.store.tables import AiResponse, Message
from tests.conftest import MakeCore
from tests.core.test_reply_shapes import chat, gpt5_mini_all_reasoning_whole
from tests.fakes.llm_server import FakeLLMServer, Ok, Status

TEAM = WorkspaceRef(Platform.TERMINAL, "local")
ASKER = Actor(TEAM, "me")


@pytest.fixture
async def core(database_url: str, make_core: MakeCore):  # type: ignore[no-untyped-def]
    return await make_core(
        database_url=database_url,
        models=("openai/gpt-test", "anthropic/claude-test"),
        consensus_prices={"openai/gpt-test": (1.0, 2.0)},
    )


async def asked(core: Any, text: str = "What is two plus two?") -> Any:
    batch = await core.service.ask(Question(TEAM, "C", "me", text))
    return await core.service.wait_for_batch(batch.id, TEAM)


def by_model(batch: Any) -> dict[str, Any]:
    return {a.provider_id: a for a in batch.answers}


async def test_a_cut_answer_keeps_its_text_is_ranked_says_so_and_can_be_retried(
    core: Any, llm_server: FakeLLMServer
) -> None:
    llm_server.script(
        "chat",
        [
            Status(
                200,
                chat({"content": "Four, because two and"}, "length", {"prompt_tokens": 10, "completion_tokens": 64}),
            )
        ],
        model="gpt-test",
    )
    done = await asked(core)
    cut = by_model(done)["openai/gpt-test"]
    assert cut.status is AnswerStatus.COMPLETED and cut.content == "Four, because two and"
    assert cut.ended == Ending.LENGTH and cut.is_cut
    assert cut.ending_note == "cut off: the model reached its output limit"
    assert cut.score is not None and cut.rank_reason and cut.rank_reason.startswith("ranked on what arrived; ")
    assert cut.reasoning == "Four, because two and"  # its why is its own: the ranking does not touch it
    whole = by_model(done)["anthropic/claude-test"]
    assert (whole.ended, whole.ending_note, whole.is_cut) == (Ending.COMPLETE, None, False)

    shown = {a["model"]: a for a in batch_json(done)["answers"]}
    assert shown["gpt-test"]["ended"] == "length"
    assert shown["gpt-test"]["ended_note"] == "cut off: the model reached its output limit"
    assert shown["claude-test"]["ended"] == "complete" and shown["claude-test"]["ended_note"] is None

    await core.service.retry(cut.id, ASKER)  # the default answer this time: whole
    again = by_model(await core.service.wait_for_batch(done.id, TEAM))["openai/gpt-test"]
    assert again.status is AnswerStatus.COMPLETED and again.ended == Ending.COMPLETE
    assert again.content == "What is two plus two?" and again.rank_reason
    assert not again.rank_reason.startswith("ranked on what arrived")


async def test_a_refusal_is_shown_as_one_ranked_as_one_and_not_offered_again(
    core: Any, llm_server: FakeLLMServer
) -> None:
    llm_server.script(
        "chat", [Status(200, chat({"content": None, "refusal": "I can't help with that."}))], model="gpt-test"
    )
    done = await asked(core)
    refused = by_model(done)["openai/gpt-test"]
    assert refused.status is AnswerStatus.COMPLETED and refused.content == "I can't help with that."
    assert (refused.ended, refused.ending_note, refused.is_cut) == (
        Ending.REFUSED,
        "the model refused to answer",
        False,
    )
    assert refused.rank == 2  # a refusal never outranks an answer
    shown = {a["model"]: a for a in batch_json(done)["answers"]}
    assert shown["gpt-test"]["ended"] == "refused"


async def test_reasoning_stays_out_of_the_answer_the_ranking_and_the_context(
    core: Any, llm_server: FakeLLMServer
) -> None:
    content = "<think>\nOkay, the user wants a sum. TL;DR: draft inside the reasoning\n</think>\n\nIt is 4."
    llm_server.script("chat", [Ok(content)], model="gpt-test")
    done = await asked(core)
    answer = by_model(done)["openai/gpt-test"]
    assert answer.content == "It is 4." and "think" not in (answer.summary or "")
    assert answer.thinking == "Okay, the user wants a sum. TL;DR: draft inside the reasoning"
    assert "The model's reasoning" in answer.expanded_text and "> Okay, the user wants" in answer.expanded_text
    async with core.store.read() as repo:
        question = await repo.session.get(Message, done.message_id)
        stored = await repo.session.get(AiResponse, answer.id)
    await core.service.select(answer.id, ASKER)
    history = build_history([question], [stored])
    assert "It is 4." in history[-1].content and "think" not in history[-1].content


async def test_an_answer_spent_on_reasoning_fails_with_its_reason_and_its_cost(
    core: Any, llm_server: FakeLLMServer
) -> None:
    llm_server.script("chat", [gpt5_mini_all_reasoning_whole()], model="gpt-test")
    done = await asked(core)
    failed = by_model(done)["openai/gpt-test"]
    assert failed.status is AnswerStatus.FAILED and failed.content is None and failed.score is None
    assert failed.error == (
        "no answer: the model used its whole output limit on reasoning — raise the limit (CONSENSUS_MAX_TOKENS)"
    )
    assert (failed.tokens_in, failed.tokens_out) == (30, 2048)
    assert failed.cost_usd == pytest.approx((30 * 1.0 + 2048 * 2.0) / 1e6)  # billed, so counted


@pytest.mark.parametrize(
    "body,reason",
    [
        (chat({"content": "   "}), "no answer: the model sent no text"),
        (chat({"content": ""}, "content_filter"), "no answer: stopped by the provider's content filter"),
        (chat({"content": "<think>only this</think>"}), "no answer: the model wrote only its reasoning"),
        (chat({"content": "\u200b\x07 \u202e\u200f"}), "no answer: the model sent no text"),
        (
            chat({"content": ""}, "length"),
            "no answer: the model reached its output limit before writing anything (CONSENSUS_MAX_TOKENS)",
        ),
    ],
)
async def test_an_empty_answer_is_never_a_success(core: Any, llm_server: FakeLLMServer, body: Any, reason: str) -> None:
    llm_server.script("chat", [Status(200, body)], model="gpt-test")
    failed = by_model(await asked(core))["openai/gpt-test"]
    assert (failed.status, failed.error) == (AnswerStatus.FAILED, reason)


async def test_each_model_gets_its_own_output_limit(make_core: MakeCore, llm_server: FakeLLMServer) -> None:
    core = await make_core(
        models=("openai/gpt-5-mini", "openai/gpt-4o", "anthropic/claude-test"),
        consensus_max_tokens={"anthropic/*": 1000},
    )
    await asked(core)
    sent = {body["model"]: body for body in llm_server.requests("chat") + llm_server.requests("messages")}
    assert sent["gpt-5-mini"]["max_completion_tokens"] == REASONING_LIMIT
    assert sent["gpt-4o"]["max_completion_tokens"] == DEFAULT_LIMIT
    assert sent["claude-test"]["max_tokens"] == 1000


def test_output_limits_defaults_and_overrides() -> None:
    limits = OutputLimits({"openai/gpt-5-mini": 32000, "ollama/*": 8192, "*": 3000})
    assert limits.limit("openai/gpt-5-mini") == 32000
    assert limits.limit("ollama/qwen3:8b") == 8192
    assert limits.limit("openai/o4-mini") == 3000
    defaults = OutputLimits()
    for reasoning in (
        "openai/gpt-5-mini",
        "openai/o3",
        "ollama/deepseek-r1:7b",
        "vllm/Qwen/Qwen3-8B",
        "deepseek/deepseek-reasoner",
        "groq/openai/gpt-oss-20b",
    ):
        assert defaults.limit(reasoning) == REASONING_LIMIT, reasoning
    for ordinary in ("openai/gpt-4o", "anthropic/claude-sonnet-4-5", "ollama/llama3.2:3b", "mistral/mistral-large"):
        assert defaults.limit(ordinary) == DEFAULT_LIMIT, ordinary

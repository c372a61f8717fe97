"""The judge ranker: anonymised prompt, strict parsing, and the fallback when anything is off."""

from __future__ import annotations

import json
import re

import pytest

from bot.settings import Settings
from bot.wiring import make_ranker
from core.domain import Ending
from core.errors import ProviderTimeoutError
from core.providers.base import ChatRequest, Completion, OnText
from core.providers.registry import ProviderRegistry
from core.ranking import ConsensusRanker, JudgeRanker
from core.ranking.judge import MalformedReply, Verdict, letters, named, parse_reply

QUESTION = "What is 6 times 7?"
ANSWERS = {"openai/gpt": "6 x 7 = 42.", "anthropic/claude": "It is 42.", "ollama/llama": "I think 40."}


class FakeJudge:
    """Replies with whatever `reply(request)` returns, or raises `error`; records each request."""

    id = "fake/judge"
    label = "Fake"

    def __init__(self, reply: object = None, error: Exception | None = None, ended: Ending = Ending.COMPLETE) -> None:
        self.reply = reply
        self.error = error
        self.ended = ended
        self.requests: list[ChatRequest] = []

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        reply = self.reply(request) if callable(self.reply) else self.reply
        return Completion(text=str(reply), ended=self.ended)

    async def aclose(self) -> None:
        return None


def order_of(request: ChatRequest) -> list[str]:
    """Which answer text sits under each letter, in prompt order."""
    prompt = request.messages[0].content
    return re.findall(r"=== Answer [A-Z]+ ===\n(.*?)\n", prompt + "\n")


def by_content(scores: dict[str, float]):
    """A judge that scores each answer by its text, wherever it was placed."""

    def reply(request: ChatRequest) -> str:
        texts = order_of(request)
        return json.dumps(
            {
                label: {"score": scores[text], "why": f"Judged {text}"}
                for label, text in zip(letters(len(texts)), texts, strict=True)
            }
        )

    return reply


async def test_judge_scores_map_back_to_answers_and_prompt_is_anonymous() -> None:
    judge = FakeJudge(
        by_content({ANSWERS["openai/gpt"]: 9, ANSWERS["anthropic/claude"]: 8.25, ANSWERS["ollama/llama"]: 2})
    )
    ranking = await JudgeRanker(judge, ConsensusRanker(), seed=1).rank(QUESTION, ANSWERS)
    assert ranking.method == "judge"
    assert {k: s.value for k, s in ranking.scores.items()} == {
        "openai/gpt": 9.0,
        "anthropic/claude": 8.2,
        "ollama/llama": 2.0,
    }
    assert ranking.scores["ollama/llama"].reason == "Judged I think 40."
    (request,) = judge.requests
    prompt = request.messages[0].content
    assert QUESTION in prompt and all(name not in prompt for name in ("openai", "claude", "llama"))
    assert "JSON" in request.system


async def test_order_is_seeded() -> None:
    orders = []
    for _ in range(2):
        judge = FakeJudge(by_content(dict.fromkeys(ANSWERS.values(), 5)))
        await JudgeRanker(judge, ConsensusRanker(), seed=7).rank(QUESTION, ANSWERS)
        orders.append(order_of(judge.requests[0]))
    assert orders[0] == orders[1]


async def test_twice_reverses_order_and_averages() -> None:
    calls = 0

    def reply(request: ChatRequest) -> str:
        nonlocal calls
        calls += 1
        texts = order_of(request)
        # position bias: the first answer always gets 10, the rest 4
        return json.dumps(
            {lab: {"score": 10 if i == 0 else 4, "why": "x"} for i, lab in enumerate(letters(len(texts)))}
        )

    judge = FakeJudge(reply)
    ranking = await JudgeRanker(judge, ConsensusRanker(), twice=True, seed=3).rank(QUESTION, ANSWERS)
    first, second = (order_of(r) for r in judge.requests)
    assert second == first[::-1] and calls == 2
    values = sorted(s.value for s in ranking.scores.values())
    assert values[-1] == 7.0 and values[-2] == 7.0  # first and last each got 10 once, 4 once


@pytest.mark.parametrize(
    "reply",
    [
        "not json",
        '{"A": {"score": 5, "why": "ok"}}',  # a letter missing
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 11, "why": "c"}}',
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": true, "why": "c"}}',
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": "7", "why": "c"}}',
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 5, "why": ""}}',
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 5, "why": "c"}, "D": {}}',
        'Sure! {"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 5, "why": "c"}}',
        "[1, 2, 3]",
        # a consensus that is not a sentence
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 5, "why": "c"}, "consensus": 3}',
        '{"A": {"score": 5, "why": "a"}, "B": {"score": 5, "why": "b"}, "C": {"score": 1, "why": "c"}, "consensus":""}',
    ],
)
async def test_malformed_reply_falls_back_and_says_so(reply: str) -> None:
    fallback = ConsensusRanker()
    ranking = await JudgeRanker(FakeJudge(reply), fallback, seed=0).rank(QUESTION, ANSWERS)
    assert ranking.method == "consensus (judge failed: malformed reply)"
    assert ranking.scores == fallback.score(QUESTION, ANSWERS).scores


async def test_a_reply_cut_at_the_output_limit_says_so() -> None:
    judge = FakeJudge('{"A": {"score": 7, "why": "Correct and sh', ended=Ending.LENGTH)
    ranking = await JudgeRanker(judge, ConsensusRanker(), seed=0).rank(QUESTION, ANSWERS)
    assert ranking.method == "consensus (judge failed: reply cut at its output limit)"


@pytest.mark.parametrize(
    ("reviewer", "overrides", "limit"),
    [
        ("openai/gpt-5-mini", {}, 25_000),  # its reasoning counts against the limit
        ("anthropic/claude-sonnet-4-5", {}, 4_096),
        ("openai/gpt-5-mini", {"openai/*": 8_000}, 8_000),
    ],
)
async def test_the_reviewer_writes_within_its_model_s_output_limit(
    reviewer: str, overrides: dict[str, int], limit: int
) -> None:
    keys = {"openai_api_key": "sk-test", "anthropic_api_key": "sk-ant-test"}
    settings = Settings(_env_file=None, consensus_reviewer=reviewer, consensus_max_tokens=overrides, **keys)
    ranker = make_ranker(settings, ProviderRegistry(settings.provider_configs()))
    assert isinstance(ranker, JudgeRanker)
    ranker.judge = judge = FakeJudge(by_content({"6 x 7 = 42.": 9, "It is 42.": 8, "I think 40.": 2}))
    await ranker.rank(QUESTION, ANSWERS)
    assert {request.max_tokens for request in judge.requests} == {limit}


async def test_provider_error_falls_back_with_reason() -> None:
    judge = FakeJudge(error=ProviderTimeoutError())
    ranking = await JudgeRanker(judge, ConsensusRanker()).rank(QUESTION, ANSWERS)
    assert ranking.method.startswith("consensus (judge failed: ")
    assert "too long" in ranking.method
    assert set(ranking.scores) == set(ANSWERS)


def test_parse_accepts_fenced_json_and_exact_letters() -> None:
    reply = '```json\n{"A": {"score": 0, "why": "bad"}, "B": {"score": 10.0, "why": "good"}}\n```'
    assert parse_reply(reply, ["A", "B"]) == Verdict({"A": (0.0, "bad"), "B": (10.0, "good")}, None)
    with pytest.raises(MalformedReply):
        parse_reply('{"A": {"score": 1, "why": "x", "extra": 1}, "B": {"score": 1, "why": "y"}}', ["A", "B"])


def test_letters_beyond_z() -> None:
    assert letters(3) == ["A", "B", "C"] and letters(28)[-2:] == ["AA", "AB"]


NAMES = {"openai/gpt": "OpenAI", "anthropic/claude": "Anthropic", "ollama/llama": "Ollama"}


async def test_the_judges_consensus_is_the_line_with_each_letter_named() -> None:
    def reply(request: ChatRequest) -> str:
        texts = order_of(request)
        letter = {text: label for label, text in zip(letters(len(texts)), texts, strict=True)}
        right = sorted(letter[ANSWERS[k]] for k in ("openai/gpt", "anthropic/claude"))
        wrong = letter[ANSWERS["ollama/llama"]]
        scores = {label: {"score": 5, "why": f"Agrees with Answer {right[0]}."} for label in letter.values()}
        line = f"Answers {right[0]} and {right[1]} give 42; Answer {wrong} guesses 40."
        return json.dumps({**scores, "consensus": line})

    judge = FakeJudge(reply)
    ranking = await JudgeRanker(judge, ConsensusRanker(), seed=5).rank(QUESTION, ANSWERS, NAMES)
    assert "consensus" in judge.requests[0].system
    assert ranking.consensus in (
        "OpenAI and Anthropic give 42; Ollama guesses 40.",
        "Anthropic and OpenAI give 42; Ollama guesses 40.",
    )
    assert all("Answer" not in s.reason for s in ranking.scores.values())
    assert all(s.reason in ("Agrees with OpenAI.", "Agrees with Anthropic.") for s in ranking.scores.values())


async def test_without_the_judges_consensus_the_free_line_stands() -> None:
    judge = FakeJudge(by_content(dict.fromkeys(ANSWERS.values(), 5)))
    ranking = await JudgeRanker(judge, ConsensusRanker(), seed=2).rank(QUESTION, ANSWERS, NAMES)
    assert ranking.consensus == ConsensusRanker().score(QUESTION, ANSWERS, NAMES).consensus


def test_named_maps_letters_it_knows_and_leaves_the_rest() -> None:
    names = {"A": "Claude", "B": "GPT", "C": "Llama"}
    assert named("Answers A, B and C agree; answer B is terse.", names) == "Claude, GPT and Llama agree; GPT is terse."
    assert named("Answer Q is unknown; a Answer is text.", names) == "Answer Q is unknown; a Answer is text."

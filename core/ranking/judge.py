"""The judge ranker: one model scores every answer, anonymised and shuffled; consensus on failure.

The judge sees letters, never model names, in a seeded random order (optionally a second call in
the reverse order, averaged, against position bias). Its reply must be strict JSON with exactly
the letters asked for, each {"score": 0–10, "why": "..."}. Anything else, or a ProviderError,
returns the fallback ranking with method "<fallback> (judge failed: <reason>)", e.g.
"consensus (judge failed: malformed reply)". The consensus line and `disagree` always come from
the fallback ranker, which is local and cheap.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping
from typing import Any

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS
from core.errors import ProviderError
from core.providers.base import ChatMessage, ChatRequest, Provider
from core.ranking.values import MAX_SCORE, Ranker, Ranking, Score, one_decimal
from core.review import clip_words

JUDGE_FAILED = "judge failed:"  # in the score method of a ranking the judge could not give
MAX_ANSWER_CHARS = 6000  # per answer in the judge's prompt, so that eight answers fit any context

JUDGE_SYSTEM = """\
You are a strict, impartial judge. Several anonymous answers to one question follow, each under a \
letter. Score each from 0 to 10 for correctness first, then completeness and clarity. Length is \
not merit; padding, repetition and refusals score low. Ignore the order of the answers.
Reply with one JSON object and nothing else, one key per letter, for example:
{"A": {"score": 7.5, "why": "Correct result, clear steps."}, "B": {"score": 3, "why": "Wrong total."}}
Each "why" has at most 20 words."""


class MalformedReply(ValueError):
    """The judge's reply is not the JSON object asked for."""


def letters(n: int) -> list[str]:
    """A, B, … Z, then AA, AB, …: as many labels as answers."""
    out: list[str] = []
    for i in range(n):
        label = ""
        i += 1
        while i:
            i, r = divmod(i - 1, 26)
            label = string.ascii_uppercase[r] + label
        out.append(label)
    return out


def build_prompt(question: str, texts: list[str], labels: list[str]) -> str:
    blocks = []
    for label, text in zip(labels, texts, strict=True):
        body = text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS] + " […]"
        blocks.append(f"=== Answer {label} ===\n{body.strip() or '(empty answer)'}")
    return f"Question:\n{question.strip()}\n\n" + "\n\n".join(blocks) + "\n\n=== End of answers ==="


def parse_reply(reply: str, labels: list[str]) -> dict[str, tuple[float, str]]:
    """{letter: (score, why)}; raises MalformedReply unless the reply is exactly what was asked."""
    text = reply.strip()
    if text.startswith("```"):  # the one liberty models take: a fenced block around the JSON
        text = text.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise MalformedReply("not JSON") from exc
    if not isinstance(data, dict) or set(data) != set(labels):
        raise MalformedReply("wrong letters")
    out: dict[str, tuple[float, str]] = {}
    for label in labels:
        entry = data[label]
        if not isinstance(entry, dict) or set(entry) != {"score", "why"}:
            raise MalformedReply("wrong fields")
        score, why = entry["score"], entry["why"]
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= MAX_SCORE:
            raise MalformedReply("score out of range")
        if not isinstance(why, str) or not why.strip():
            raise MalformedReply("missing why")
        out[label] = (float(score), why)
    return out


class JudgeRanker:
    method = "judge"

    def __init__(self, judge: Provider, fallback: Ranker, *, twice: bool = False, seed: int | None = None):
        self.judge = judge
        self.fallback = fallback
        self.twice = twice
        self._rng = random.Random(seed)

    async def rank(self, question: str, answers: Mapping[str, str]) -> Ranking:
        fallback = await self.fallback.rank(question, answers)
        if not answers:
            return fallback
        keys = sorted(answers)
        self._rng.shuffle(keys)
        orders = [keys, keys[::-1]] if self.twice and len(keys) > 1 else [keys]
        try:
            verdicts = [await self._judge_once(question, answers, order) for order in orders]
        except MalformedReply:
            return self._failed(fallback, "malformed reply")
        except ProviderError as exc:
            return self._failed(fallback, exc.message)
        raw = {key: sum(v[key][0] for v in verdicts) / len(verdicts) for key in keys}
        values = one_decimal(raw)
        scores = {
            key: Score(values[key], clip_words(verdicts[0][key][1], WHY_MAX_WORDS, WHY_MAX_CHARS)) for key in answers
        }
        return Ranking(scores, self.method, fallback.disagree, fallback.consensus)

    async def _judge_once(
        self, question: str, answers: Mapping[str, str], order: list[str]
    ) -> dict[str, tuple[float, str]]:
        labels = letters(len(order))
        prompt = build_prompt(question, [answers[key] for key in order], labels)
        request = ChatRequest(messages=(ChatMessage("user", prompt),), system=JUDGE_SYSTEM, max_tokens=1024)
        completion = await self.judge.complete(request)
        parsed = parse_reply(completion.text, labels)
        return {key: parsed[label] for key, label in zip(order, labels, strict=True)}

    def _failed(self, fallback: Ranking, reason: str) -> Ranking:
        reason = clip_words(reason, 8, 60)
        method = f"{fallback.method} ({JUDGE_FAILED} {reason})"
        return Ranking(fallback.scores, method, fallback.disagree, fallback.consensus)

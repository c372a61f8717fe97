"""The judge ranker: one model scores every answer, anonymised and shuffled; consensus on failure.

The judge sees letters, never model names, in a seeded random order (optionally a second call in
the reverse order, averaged, against position bias). Its reply must be strict JSON with exactly
the letters asked for, each {"score": 0–10, "why": "..."}, and may add "consensus": one sentence on
where the answers agree and differ. Anything else, or a ProviderError, returns the fallback ranking
with method "<fallback> (judge failed: <reason>)", e.g. "consensus (judge failed: malformed
reply)". The judge's consensus sentence is the batch's line, its letters mapped back to the models'
names; without one the fallback's line stands. `disagree` always comes from the fallback ranker,
which is local and cheap, and reads it from the answers' results.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS, Ending
from core.errors import ProviderError
from core.providers.base import ChatMessage, ChatRequest, Provider
from core.providers.limits import DEFAULT_LIMIT
from core.ranking.values import MAX_SCORE, Ranker, Ranking, Score, one_decimal
from core.ranking.wording import LINE_MAX_CHARS, LINE_MAX_WORDS
from core.review import clip_words

JUDGE_FAILED = "judge failed:"  # in the score method of a ranking the judge could not give
MAX_ANSWER_CHARS = 6000  # per answer in the judge's prompt, so that eight answers fit any context

JUDGE_SYSTEM = """\
You are a strict, impartial judge. Several anonymous answers to one question follow, each under a \
letter. Score each from 0 to 10 for correctness first, then completeness and clarity. Length is \
not merit; padding, repetition and refusals score low. Ignore the order of the answers.
Reply with one JSON object and nothing else, one key per letter and a "consensus", for example:
{"A": {"score": 7.5, "why": "Correct result, clear steps."}, "B": {"score": 3, "why": "Wrong total."}, \
"consensus": "Answers A and C give 42; Answer B gives 44 after a wrong step."}
Each "why" has at most 20 words. The "consensus" is one sentence of at most 30 words: where the \
answers agree, where they differ, naming each result and calling each answer "Answer" and its letter."""

# "Answer A", "Answers A and C", "answers A, B and D": the judge's way of naming answers
_NAMED = re.compile(r"\b[Aa]nswers? ([A-Z]{1,2}(?:(?:,\s*|\s+and\s+|\s*&\s*|,\s+and\s+)[A-Z]{1,2})*)\b")


class MalformedReply(ValueError):
    """The judge's reply is not the JSON object asked for."""


class CutReply(MalformedReply):
    """The judge reached its output limit before its verdict was whole."""


@dataclass(frozen=True)
class Verdict:
    scores: dict[str, tuple[float, str]]  # letter -> (score, why)
    consensus: str | None  # the judge's one sentence, letters as written; None when it gave none


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


def parse_reply(reply: str, labels: list[str]) -> Verdict:
    """The scores by letter and the consensus sentence; raises MalformedReply unless the reply is
    exactly what was asked (the consensus may be left out)."""
    text = reply.strip()
    if text.startswith("```"):  # the one liberty models take: a fenced block around the JSON
        text = text.removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise MalformedReply("not JSON") from exc
    if not isinstance(data, dict) or set(data) - {"consensus"} != set(labels):
        raise MalformedReply("wrong letters")
    consensus = data.get("consensus")
    if consensus is not None and (not isinstance(consensus, str) or not consensus.strip()):
        raise MalformedReply("consensus not a sentence")
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
    return Verdict(out, consensus)


def named(text: str, names: Mapping[str, str]) -> str:
    """The judge's text with "Answer A" written as the model's name ("Claude"); `names` by letter."""

    def swap(match: re.Match[str]) -> str:
        found = re.findall(r"[A-Z]{1,2}", match.group(1))
        if not all(letter in names for letter in found):
            return match.group(0)
        shown = [names[letter] for letter in found]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]

    return _NAMED.sub(swap, text)


class JudgeRanker:
    method = "judge"

    def __init__(
        self,
        judge: Provider,
        fallback: Ranker,
        *,
        twice: bool = False,
        seed: int | None = None,
        max_tokens: int = DEFAULT_LIMIT,
    ):
        """`max_tokens`: the judge model's output limit (`OutputLimits`): a reasoning model's reasoning
        counts against it, and one that thinks past it sends no verdict."""
        self.judge = judge
        self.fallback = fallback
        self.twice = twice
        self.max_tokens = max_tokens
        self._rng = random.Random(seed)

    async def rank(self, question: str, answers: Mapping[str, str], names: Mapping[str, str] | None = None) -> Ranking:
        fallback = await self.fallback.rank(question, answers, names)
        if not answers:
            return fallback
        keys = sorted(answers)
        self._rng.shuffle(keys)
        orders = [keys, keys[::-1]] if self.twice and len(keys) > 1 else [keys]
        try:
            verdicts = [await self._judge_once(question, answers, order) for order in orders]
        except CutReply:
            return self._failed(fallback, "reply cut at its output limit")
        except MalformedReply:
            return self._failed(fallback, "malformed reply")
        except ProviderError as exc:
            return self._failed(fallback, exc.message)
        raw = {key: sum(v[0][key][0] for v in verdicts) / len(verdicts) for key in keys}
        values = one_decimal(raw)
        shown = {key: (names or {}).get(key, key) for key in answers}
        first, letter_names, line = verdicts[0]
        by_letter = {letter: shown[key] for letter, key in letter_names.items()}
        scores = {
            key: Score(values[key], clip_words(named(first[key][1], by_letter), WHY_MAX_WORDS, WHY_MAX_CHARS))
            for key in answers
        }
        consensus = clip_words(named(line, by_letter), LINE_MAX_WORDS, LINE_MAX_CHARS) if line else fallback.consensus
        return Ranking(scores, self.method, fallback.disagree, consensus)

    async def _judge_once(
        self, question: str, answers: Mapping[str, str], order: list[str]
    ) -> tuple[dict[str, tuple[float, str]], dict[str, str], str | None]:
        """Scores by answer key, the answer key of each letter, and the consensus sentence."""
        labels = letters(len(order))
        prompt = build_prompt(question, [answers[key] for key in order], labels)
        request = ChatRequest(messages=(ChatMessage("user", prompt),), system=JUDGE_SYSTEM, max_tokens=self.max_tokens)
        completion = await self.judge.complete(request)
        try:
            verdict = parse_reply(completion.text, labels)
        except MalformedReply:
            if completion.ended is Ending.LENGTH:
                raise CutReply() from None
            raise
        keyed = {key: verdict.scores[label] for key, label in zip(order, labels, strict=True)}
        return keyed, dict(zip(labels, order, strict=True)), verdict.consensus

    def _failed(self, fallback: Ranking, reason: str) -> Ranking:
        reason = clip_words(reason, 8, 60)
        method = f"{fallback.method} ({JUDGE_FAILED} {reason})"
        return Ranking(fallback.scores, method, fallback.disagree, fallback.consensus)

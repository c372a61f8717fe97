"""The consensus ranker: what each answer contributes to what the answers agree on. No model calls.

Three signals, chosen on the public development sets (see bench/ranking.py for the figures):

* **Result agreement.** Where answers commit to a checkable result (a boxed or stated final number,
  yes/no, a lettered choice, a short "the answer is X"), the share of the other answers that reach
  the same result. On maths this is what consensus buys: a contradicted answer ranks below the
  ones that agree, whatever its length. It takes 60% of the score, through a square root so that
  agreeing with 2 of 3 others already counts for most of it.
* **Substance.** Distinct informative content, with diminishing returns: the characters of
  distinct sentences that carry at least one informative term (70%), and the number of distinct
  informative terms (30%), each saturating. Repeating an answer or adding generic filler
  ("I hope this helps") adds no distinct informative sentence or term, so padding never pays.
  People in the Vicuna votes prefer fuller answers; this keeps that signal without raw length.
* **Coverage.** The share of the content units (informative terms and term pairs) that at least
  two *other* answers share which this answer also contains. On the development data it adds
  little beyond substance, so it only weighs 10% of the quality part; it drives `disagree`.

A refusal ("I'm not trained to do that") keeps a quarter of its score. The final 0–10 value has
one decimal, and strict preferences are never rounded into ties (values.one_decimal).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS
from core.ranking.features import final_result, is_refusal, saturate, terms, units
from core.ranking.values import MAX_SCORE, Ranking, Score, one_decimal
from core.review import clip_words

W_RESULT = 0.6  # share of the score that result agreement decides, where there is a result
W_COVERAGE = 0.1  # share of the quality part that coverage of the shared core decides
W_SENTENCES = 0.7  # within substance: distinct informative sentences vs distinct terms
SENTENCE_CHARS_SCALE = 2000.0  # ~ a 350-word answer reaches 63% of the sentence signal
TERMS_SCALE = 60.0  # ~ 60 distinct informative terms reach 63% of the term signal
REFUSAL_FACTOR = 0.25
LOW_CORE = 0.2  # mean coverage under this, with no checkable result: the answers disagree

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")


@dataclass(frozen=True, slots=True)
class _Answer:
    units: frozenset[str]
    terms: frozenset[str]
    result: str | None
    refusal: bool
    substance: float


def _analyse(question: str, text: str) -> _Answer:
    term_list: list[str] = []
    seen: set[str] = set()
    chars = 0
    for piece in _SENTENCE.split(text):  # one pass: terms in order, and distinct informative sentences
        found = terms(piece)
        term_list.extend(found)
        sentence = piece.strip()
        if found and sentence not in seen:
            seen.add(sentence)
            chars += len(sentence)
    distinct = frozenset(term_list)
    substance = W_SENTENCES * saturate(chars, SENTENCE_CHARS_SCALE) + (1 - W_SENTENCES) * saturate(
        len(distinct), TERMS_SCALE
    )
    return _Answer(units(term_list), distinct, final_result(question, text), is_refusal(text), substance)


def _detail(substance: float) -> str:
    return "detailed" if substance >= 0.6 else "some detail" if substance >= 0.3 else "brief"


def _show(result: str) -> str:
    return result if len(result) <= 14 else result[:13] + "…"


class ConsensusRanker:
    """Deterministic, local, order- and name-independent; see the module docstring."""

    method = "consensus"

    async def rank(self, question: str, answers: Mapping[str, str]) -> Ranking:
        return self.score(question, answers)

    def score(self, question: str, answers: Mapping[str, str]) -> Ranking:
        info = {key: _analyse(question, text) for key, text in answers.items()}
        n = len(info)
        df: Counter[str] = Counter(u for a in info.values() for u in a.units)
        k = min(2, n - 1)  # "shared": in at least k *other* answers
        above = sum(1 for c in df.values() if c > k)  # shared whoever looks
        at_k = sum(1 for c in df.values() if c == k)  # shared unless the answer is one of the k
        results = Counter(a.result for a in info.values() if a.result is not None)
        voting = sum(results.values()) >= 2
        raw: dict[str, float] = {}
        whys: dict[str, str] = {}
        coverages: list[float] = []
        for key, a in info.items():
            parts: list[str] = []
            shared = 0
            quality = a.substance
            if n > 1:
                own = [df[u] for u in a.units]
                shared = above + at_k - sum(1 for c in own if c == k)
                coverage = sum(1 for c in own if c > k) / shared if shared else 0.0
                coverages.append(coverage)
                quality = (1 - W_COVERAGE) * a.substance + W_COVERAGE * coverage
            value = quality
            if voting:
                agree = results[a.result] - 1 if a.result is not None else 0
                value = W_RESULT * math.sqrt(agree / (n - 1)) + (1 - W_RESULT) * quality
                parts.append(self._result_why(a.result, agree, n, results))
            if n == 1:
                parts.insert(0, "Only answer, nothing to compare")
            elif shared:
                parts.append(f"covers {round(100 * coverage)}% of shared points")
            parts.append(_detail(a.substance))
            if a.refusal:
                value *= REFUSAL_FACTOR
                parts = ["Declines to answer"]
            if not answers[key].strip():
                value, parts = 0.0, ["Empty answer"]
            raw[key] = MAX_SCORE * value
            why = "; ".join(parts)
            whys[key] = clip_words(why[:1].upper() + why[1:] + ".", WHY_MAX_WORDS, WHY_MAX_CHARS)
        values = one_decimal(raw)
        top_group = max(results.values(), default=0)
        if voting:
            disagree = 2 * top_group <= sum(results.values())
        else:
            disagree = n > 1 and sum(coverages) / len(coverages) < LOW_CORE
        return Ranking(
            scores={key: Score(values[key], whys[key]) for key in answers},
            method=self.method,
            disagree=disagree,
            consensus=self._line(question, info, results, voting),
        )

    @staticmethod
    def _result_why(result: str | None, agree: int, n: int, results: Counter[str]) -> str:
        if result is None:
            return "states no checkable result"
        if agree:
            return f"same result ({_show(result)}) as {agree} of {n - 1} others"
        (top, count), *_ = sorted(results.items(), key=lambda kv: (-kv[1], kv[0]))
        if count >= 2:
            return f"result {_show(result)} contradicts {count} others' {_show(top)}"
        return f"result {_show(result)} matches no other answer"

    @staticmethod
    def _line(question: str, info: Mapping[str, _Answer], results: Counter[str], voting: bool) -> str:
        n = len(info)
        if n < 2:
            return "Only one answer; nothing to compare."
        if voting:
            ordered = sorted(results.items(), key=lambda kv: (-kv[1], kv[0]))
            (top, count), rest = ordered[0], ordered[1:]
            if not rest:
                line = f"{count} of {n} answers give {_show(top)}."
            else:
                others = ", ".join(_show(r) for r, _ in rest[:3])
                line = f"{count} of {n} answers give {_show(top)}; others say {others}."
            return clip_words(line, 30, 200)
        asked = set(terms(question))
        df = Counter(t for a in info.values() for t in a.terms if t not in asked and not t.isdigit())
        need = max(2, (n + 1) // 2)
        common = [t for t, c in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])) if c >= need][:4]
        if not common:
            return "Little common ground: the answers take different directions."
        return clip_words(f"Common ground: {', '.join(common)}; they differ in the details.", 30, 200)

"""The consensus ranker: what each answer contributes to what the answers agree on. No model calls.

A score is a statement on a fixed 0–10 scale, built from three signals (figures: bench/ranking.py):

* **Result agreement** A. Where answers commit to a checkable result (a boxed or stated number,
  yes/no, a lettered choice, the named thing a short who/what question asks for), A is the square
  root of the share of the *other* answers reaching the same result. It takes 70% of the score: an
  answer no other answer confirms cannot pass 3, one that all others confirm starts at 7. Named
  things are guessed from the opening words, so they only count when two answers share one.
  Refusals and empty answers neither vote nor count in the share. A right result outranks a wrong
  one however full: on the Vicuna maths questions people voted for wrong answers, and we differ.
  One exception: a majority of one answer is *contested*, and there substance alone decides, when
  a dissent is at least 1.5 times as full as each of its answers, or when the dissent's working
  ends on its result and none of the majority's does (they compute 4.2, then state 5); a dissent
  whose own working ends elsewhere contests nothing (see `_contested` and `working.py`).
* **Substance** S, relative to the batch: the characters of distinct sentences that carry an
  informative term, divided by the fullest answer's, square-rooted (diminishing returns). People
  in the Vicuna votes prefer fuller answers, and this is the best single predictor of their votes;
  measuring it against the batch's best keeps a right two-line answer to a two-line question high.
  Repeating an answer or adding filler ("I hope this helps") adds no distinct informative sentence,
  nor does talk about the answering itself ("I double-checked every step of my reasoning").
  Checked on each half of the questions, none of these added to it on both: distinct terms,
  compressed size, new words per sentence, numbers, names, list items, examples, the question's own
  terms, whole sentences over fragments. The votes reward how much an answer says.
* **Coverage** C: of the *shared points* (terms beyond the question's own that at least half of the
  answers use, at least two), the share this answer makes. It carries 10% of quality Q = 0.9 S +
  0.1 C: on the votes it adds nothing beyond substance, but it is what "agreeing" means without a
  result, and the rank's reason and the consensus line name it there.

Score = 10 × (0.7 A + 0.3 Q) with a result to vote on; 10 × (0.15 + 0.75 Q) without one (1.5–9:
no answer is confirmed without a result); 6.5 for an only answer; a refusal keeps a tenth of Q.
The batch is flagged `disagree` when no result has a strict majority, when the majority is
contested, or when the majority is one answer ahead and a dissent carries as much substance as
the majority's fullest answer (on GSM8K this catches most majorities that are wrong; a thin
dissent such as a bare "Lyon" among two "Paris" is named in the consensus line instead of raising
the flag, else 2-to-1 splits would always flag). Without results it is never raised: words the
answers do not share are no evidence that they disagree, so the line says only what they share.

Each score carries the rank's reason, what decided it ("3 of 3 agree on 42", "covers 5 of the 7
shared points; the fullest answer"); the card's why is the model's own and is not touched here.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from core.ranking import wording
from core.ranking.features import SELF_TALK, Text, analyse_text, common_surface, terms
from core.ranking.results import Result, final_result
from core.ranking.values import MAX_SCORE, Ranking, Score, one_decimal
from core.ranking.wording import FULLER, UNWORKED

W_RESULT = 0.7  # share of the score that result agreement decides, where there is a result
W_COVERAGE = 0.1  # share of quality that coverage of the shared points decides
OPEN_FLOOR, OPEN_TOP = 0.15, 0.9  # the 0–1 range an answer without a checkable result spans
ONLY_ANSWER = 0.65  # nothing to compare: a mid-high score that promises no confirmation
REFUSAL_SHARE = 0.1
CONTESTED_RATIO = 1.5  # a lone dissent this many times as full as every answer of a majority of one
MIN_CORE = 3  # fewer shared points than this: the reason does not count coverage
COMMON_SHOWN = 4


@dataclass(frozen=True, slots=True)
class _Answer:
    text: Text
    result: Result | None
    empty: bool

    @property
    def counts(self) -> bool:
        """Whether the answer takes part in the consensus (refusals and empty answers do not)."""
        return not (self.empty or self.text.refusal)


class ConsensusRanker:
    """Deterministic, local, order- and name-independent; see the module docstring."""

    method = "consensus"

    async def rank(self, question: str, answers: Mapping[str, str], names: Mapping[str, str] | None = None) -> Ranking:
        return self.score(question, answers, names)

    def score(self, question: str, answers: Mapping[str, str], names: Mapping[str, str] | None = None) -> Ranking:
        """`names`: how the consensus line calls each answer's model ("Llama"); the keys by default."""
        named = {key: (names or {}).get(key, key) for key in answers}
        info = {key: _analyse(question, text) for key, text in answers.items()}
        n = len(info)
        if not info:
            return Ranking({}, self.method, False, wording.open_line(0, []))
        fullest = max(a.text.chars for a in info.values()) or 1
        core = _core(question, [a.text for a in info.values() if a.counts])
        counts = Counter(a.result.key for a in info.values() if a.counts and a.result is not None)
        shown = {a.result.key: a.result.shown for a in info.values() if a.result is not None}
        guessed_only = all(a.result is None or a.result.guessed for a in info.values())
        voting = n > 1 and sum(counts.values()) >= 2 and not (guessed_only and max(counts.values()) < 2)
        contested = _contested(info, counts) if voting else None
        m = sum(1 for a in info.values() if a.counts)  # answers taking part: refusals neither vote nor count
        raw: dict[str, float] = {}
        reasons: dict[str, str] = {}
        for key, a in info.items():
            ratio = a.text.chars / fullest
            covered = len(a.text.terms & core)
            quality = (1 - W_COVERAGE) * math.sqrt(ratio) + W_COVERAGE * (covered / len(core) if core else 0.0)
            mine = a.result.key if a.result is not None and a.counts else None
            if n == 1:
                value, parts = ONLY_ANSWER, [wording.ONLY_ANSWER]
            elif voting:
                agree = counts[mine] - 1 if mine is not None and contested is None else 0
                value = W_RESULT * math.sqrt(agree / (m - 1)) + (1 - W_RESULT) * quality
                parts = [wording.result_reason(mine, m, counts, shown, contested=contested)]
                parts.append(wording.detail_reason(ratio))
            else:
                value = OPEN_FLOOR + (OPEN_TOP - OPEN_FLOOR) * quality
                parts = [wording.coverage_reason(covered, len(core))] if len(core) >= MIN_CORE else []
                parts.append(wording.detail_reason(ratio))
            if a.text.refusal:
                value, parts = REFUSAL_SHARE * quality, [wording.DECLINES]
            if a.empty:
                value, parts = 0.0, [wording.EMPTY]
            raw[key] = MAX_SCORE * value
            reasons[key] = wording.reason(parts)
        values = one_decimal(raw)
        declined = [key for key, a in info.items() if not a.counts]
        if voting:
            results = {key: a.result.key if a.result is not None else None for key, a in info.items() if a.counts}
            line = wording.result_line(results, shown, named, declined)
            disagree = contested is not None or _results_disagree(info, counts)
        else:
            common = _common(core, [a.text for a in info.values() if a.counts])
            line = wording.open_line(n, common, sorted(named[key] for key in declined))
            disagree = False  # shared vocabulary is no evidence that the answers disagree
        return Ranking(
            scores={key: Score(values[key], reasons[key]) for key in answers},
            method=self.method,
            disagree=disagree,
            consensus=line,
        )


def _analyse(question: str, text: str) -> _Answer:
    return _Answer(analyse_text(text), final_result(question, text), not text.strip())


def _core(question: str, texts: list[Text]) -> frozenset[str]:
    """Shared points: terms beyond the question's that at least half the answers (two or more) use;
    self-talk ("carefully", "step") is how answers are written, not a point they share."""
    asked = set(terms(question)) | SELF_TALK
    need = max(2, math.ceil(len(texts) / 2))
    df = Counter(t for text in texts for t in text.terms)
    return frozenset(t for t, c in df.items() if c >= need and t not in asked)


def _common(core: frozenset[str], texts: list[Text]) -> list[str]:
    df = Counter(t for text in texts for t in text.terms if t in core and not t.isdigit())
    top = sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:COMMON_SHOWN]
    return [common_surface(t, texts) for t, _ in top]


def _contested(info: Mapping[str, _Answer], counts: Counter[str]) -> str | None:
    """Why a majority of one answer is outweighed by a dissent, or None where it stands.

    FULLER: a dissent shows far more work than each majority answer. Two terse answers can share
    one shortcut; a worked answer that reaches another result is then as good evidence as their
    agreement. (On the GSM8K dev half such majorities were wrong in 4 of 5 cases; below the ratio,
    right in 60 of 63.) UNWORKED: no majority answer's working ends on the result it states (each
    computes 4.2 and states 5), and a dissent's working ends on its own. Either way agreement is
    not counted and substance decides. A dissent whose own working ends elsewhere (it computes 9,
    then states 540) contests nothing.
    """
    top, top_count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if 2 * top_count - sum(counts.values()) != 1:
        return None
    votes = [(a.result, a.text.chars) for a in info.values() if a.counts and a.result is not None]
    majority = [(result, chars) for result, chars in votes if result.key == top]
    dissents = [(result, chars) for result, chars in votes if result.key != top]
    fullest = max(chars for _, chars in majority)
    if any(result.follows is not False and chars >= CONTESTED_RATIO * fullest for result, chars in dissents):
        return FULLER
    if all(result.follows is False for result, _ in majority) and any(result.follows for result, _ in dissents):
        return UNWORKED
    return None


def _results_disagree(info: Mapping[str, _Answer], counts: Counter[str]) -> bool:
    """No strict majority; or a majority of one answer and a dissent as full as the majority's fullest."""
    top, top_count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    margin = 2 * top_count - sum(counts.values())  # answers for the top result minus all the others
    if margin != 1:
        return margin < 1
    majority = max(a.text.chars for a in info.values() if a.counts and a.result is not None and a.result.key == top)
    return any(
        a.counts and a.result is not None and a.result.key != top and a.text.chars >= majority for a in info.values()
    )

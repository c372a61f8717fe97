"""What is stored of a batch's ranking: each answer's score, rank and reason, and what the
consensus line calls each model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.domain import CUT_ENDINGS, WHY_MAX_CHARS, WHY_MAX_WORDS
from core.ranking.values import Ranking
from core.review import clip_words


def score_rows(
    ranking: Ranking, ranked: Mapping[str, str], endings: Mapping[str, str | None]
) -> list[tuple[int, float, str | None, str, int]]:
    """(answer id, score, rank reason, method, rank) of each answer in `ranked`; rank 1 is the best,
    ties by id. A cut answer is ranked on what arrived, and its reason says so first."""
    order = sorted(
        ((key, score) for key, score in ranking.scores.items() if key in ranked),
        key=lambda kv: (-kv[1].value, int(kv[0])),
    )
    return [
        (int(key), score.value, _reason(score.reason, endings.get(key)), ranking.method, position)
        for position, (key, score) in enumerate(order, start=1)
    ]


def _reason(reason: str, ended: str | None) -> str:
    if ended not in CUT_ENDINGS:
        return reason
    return clip_words(f"ranked on what arrived; {reason}", WHY_MAX_WORDS, WHY_MAX_CHARS)


def model_names(answers: Sequence[Any]) -> dict[str, str]:
    """What the consensus line calls each answer's model: its label ("Anthropic"), or label and
    model where two answers of the batch share a label ("OpenAI gpt-5-mini")."""
    labels = Counter(a.label for a in answers)
    return {str(a.id): a.label if labels[a.label] == 1 else f"{a.label} {a.model}" for a in answers}

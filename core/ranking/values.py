"""What every ranker returns, and the one rounding rule all of them share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

MAX_SCORE = 10.0


@dataclass(frozen=True)
class Score:
    value: float  # 0–10, one decimal
    reason: str  # ≤ 20 words, ≤ 120 chars: what decided the rank, for a person ("3 of 3 agree on 42")


@dataclass(frozen=True)
class Ranking:
    scores: Mapping[str, Score]
    method: str  # "consensus", "judge", or "consensus (judge failed: …)"
    disagree: bool  # no real consensus: different final results, or little shared content
    consensus: str  # one short line: where the answers agree and where they differ


class Ranker(Protocol):
    method: str

    async def rank(
        self, question: str, answers: Mapping[str, str], names: Mapping[str, str] | None = None
    ) -> Ranking: ...


def one_decimal(raw: Mapping[str, float]) -> dict[str, float]:
    """0–10 scores with one decimal, keeping every strict preference of `raw` visible.

    Rounding alone would turn 6.04 and 5.96 into a tie; the bot shows one decimal, so a lower raw
    score is pushed at least 0.1 below the next higher one (never under 0). Equal raw scores stay
    equal, and the result depends only on the values, not on the order or the names.
    """
    out: dict[str, float] = {}
    prev_raw: float | None = None
    prev_val = MAX_SCORE
    for key, value in sorted(raw.items(), key=lambda kv: -kv[1]):
        rounded = round(min(max(value, 0.0), MAX_SCORE), 1)
        if prev_raw is not None:
            if value >= prev_raw - 1e-9:
                rounded = prev_val
            else:
                rounded = max(0.0, min(rounded, round(prev_val - 0.1, 1)))
        out[key] = rounded
        prev_raw, prev_val = value, rounded
    return out

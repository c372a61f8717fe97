"""The team's leaderboard: per model, how often its answers were the ones people selected.

The share selected comes with a 95% Wilson score interval, which stays inside 0–100% and is honest
about small numbers (1 of 1 selected is "21–100%", not "100%")."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import InvalidSettingsError
from core.store.leaderboard_rows import AnswerOutcome

DEFAULT_DAYS = 30
MAX_DAYS = 3660
Z_95 = 1.959964  # the normal quantile for a two-sided 95% interval


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for `successes` out of `trials`; (0, 1) when nothing was tried."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z / (1 + z2 / trials) * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def check_days(days: int) -> int:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidSettingsError(f"Choose a number of days from 1 to {MAX_DAYS:,}.")
    return days


@dataclass(frozen=True, slots=True)
class Standing:
    model: str
    answers: int
    selected: int
    ranked_first: int
    share_low: float  # the 95% interval of the share selected
    share_high: float
    median_latency_ms: float | None
    median_cost_usd: float | None

    @property
    def share(self) -> float:
        return self.selected / self.answers if self.answers else 0.0


@dataclass(frozen=True, slots=True)
class Leaderboard:
    since: datetime
    days: int
    channel: str | None  # None: the whole workspace
    standings: tuple[Standing, ...]  # best first

    @property
    def answers(self) -> int:
        return sum(s.answers for s in self.standings)


def _median(values: Iterable[float | int | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return statistics.median(known) if known else None


def standings(outcomes: Sequence[AnswerOutcome]) -> tuple[Standing, ...]:
    """One standing per model, ordered by the interval's lower bound (the share the data supports
    with confidence), then by answers given, then by name."""
    by_model: dict[str, list[AnswerOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_model[outcome.model].append(outcome)
    table = []
    for model, rows in by_model.items():
        selected = sum(1 for r in rows if r.selected)
        low, high = wilson_interval(selected, len(rows))
        table.append(
            Standing(
                model=model,
                answers=len(rows),
                selected=selected,
                ranked_first=sum(1 for r in rows if r.rank == 1),
                share_low=low,
                share_high=high,
                median_latency_ms=_median(r.latency_ms for r in rows),
                median_cost_usd=_median(r.cost_usd for r in rows),
            )
        )
    return tuple(sorted(table, key=lambda s: (-s.share_low, -s.answers, s.model)))

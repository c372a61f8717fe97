"""What a question costs: the total of its answers once they ran, and an estimate before it is asked.

The estimate's rules, so that people can check them:
- input tokens: the characters sent (instructions, earlier questions with their kept answers, the
  question) divided by 4 — the rule of thumb OpenAI and Anthropic give for English text — plus 4
  tokens for each chat message's framing;
- output tokens, per model: the median of that model's last 20 finished answers in this workspace,
  or 400 where the workspace has none yet;
- a model without a known price is counted apart ("2 prices unknown"), never as free.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.domain import Answer, AnswerStatus
from core.pricing import PriceTable

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
HISTORY_ANSWERS = 20
DEFAULT_OUTPUT_TOKENS = 400


def money(usd: float) -> str:
    """ "$1.23" from a dollar up, "$0.0123" below: small answers cost fractions of a cent."""
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def approx(usd: float) -> str:
    """An estimate's amount, two significant digits: "$0.04", "$0.0035", "$1.20"."""
    if usd >= 0.1:
        return f"${usd:,.2f}"
    if usd < 0.0001:
        return "under $0.0001"
    digits = 1 - math.floor(math.log10(usd))  # two significant digits
    return f"${usd:.{digits}f}"


def _unknown(count: int) -> str:
    return f"{count} price{'s' if count != 1 else ''} unknown"


@dataclass(frozen=True, slots=True)
class CostTotal:
    """The dollars of the answers that ran; `unknown` of them have no known price."""

    known_usd: float
    unknown: int

    @property
    def text(self) -> str:
        """ "$0.0350"; "≥ $0.0123 (2 prices unknown)" where some are unknown — never a false total."""
        if not self.unknown:
            return money(self.known_usd)
        if not self.known_usd:
            return f"unknown ({_unknown(self.unknown)})"
        return f"≥ {money(self.known_usd)} ({_unknown(self.unknown)})"


def total(answers: Iterable[Answer]) -> CostTotal | None:
    """What the answers that ran cost, deleted ones and a merge included (their tokens were paid);
    None until one has run. A failure that reported no tokens cost nothing."""
    known, unknown, ran = 0.0, 0, False
    for answer in answers:
        if answer.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING):
            continue
        if answer.cost_usd is not None:
            known, ran = known + answer.cost_usd, True
        elif answer.status is AnswerStatus.COMPLETED or answer.tokens_in or answer.tokens_out:
            unknown, ran = unknown + 1, True
    return CostTotal(known, unknown) if ran else None


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a question will cost with these models, before it is asked."""

    usd: float  # of the models whose price is known
    models: int
    unknown: int = 0  # models without a known price
    threshold_usd: float | None = None  # the workspace's confirmation threshold, if it set one

    @property
    def needs_confirmation(self) -> bool:
        """Above the threshold the asker confirms first. Unknown prices cannot be compared, so only
        the known part counts."""
        return self.threshold_usd is not None and self.usd > self.threshold_usd

    @property
    def text(self) -> str:
        """ "≈ $0.04 for 4 models", "≈ $0.04 for 4 models (1 price unknown)"."""
        models = f"{self.models} model{'s' if self.models != 1 else ''}"
        if self.unknown == self.models:
            return f"cost unknown for {models} (no prices known)"
        return f"≈ {approx(self.usd)} for {models}" + (f" ({_unknown(self.unknown)})" if self.unknown else "")

    def stored(self) -> dict[str, Any]:
        return {"usd": self.usd, "models": self.models, "unknown": self.unknown}

    @classmethod
    def of(cls, stored: Any) -> Estimate | None:
        """The estimate kept with a question; None for questions asked before estimates were kept."""
        if not isinstance(stored, Mapping):
            return None
        try:
            return cls(float(stored["usd"]), int(stored["models"]), int(stored.get("unknown", 0)))
        except (KeyError, TypeError, ValueError):
            return None


def input_tokens(texts: Sequence[str]) -> int:
    """The tokens of a request made of these chat messages (the instructions are one of them)."""
    return math.ceil(sum(len(t) for t in texts) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(texts)


def output_tokens(text: str) -> int:
    """The tokens of a written text, by the same rule (a stopped answer's, whose usage never came)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def typical_output(recent: Sequence[int]) -> int:
    """The output tokens to expect from a model whose latest answers gave `recent`."""
    return round(statistics.median(recent)) if recent else DEFAULT_OUTPUT_TOKENS


def estimate(
    prices: PriceTable,
    tokens_in: int,
    outputs: Mapping[str, int],
    threshold_usd: float | None = None,
) -> Estimate:
    """`outputs`: the output tokens expected of each model asked."""
    known, unknown = 0.0, 0
    for model, tokens_out in outputs.items():
        cost = prices.cost(model, tokens_in, tokens_out)
        if cost is None:
            unknown += 1
        else:
            known += cost
    return Estimate(known, len(outputs), unknown, threshold_usd)

"""What an answer cost, in USD, from token counts. Unknown is `None`, never zero.

Defaults are list prices per million tokens for well-known models (they change: override them).
Local providers (Ollama...) are free only when configured so, e.g. `{"ollama/*": (0, 0)}`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float  # USD per million input tokens
    output_per_mtok: float  # USD per million output tokens


DEFAULT_PRICES: Mapping[str, Price] = {
    "anthropic/claude-opus-4-1": Price(15.0, 75.0),
    "anthropic/claude-sonnet-4-5": Price(3.0, 15.0),
    "anthropic/claude-haiku-4-5": Price(1.0, 5.0),
    "openai/gpt-5": Price(1.25, 10.0),
    "openai/gpt-5-mini": Price(0.25, 2.0),
    "openai/gpt-5-nano": Price(0.05, 0.40),
    "openai/gpt-4.1": Price(2.0, 8.0),
    "openai/gpt-4o": Price(2.5, 10.0),
    "openai/gpt-4o-mini": Price(0.15, 0.60),
    "openai/o4-mini": Price(1.10, 4.40),
}

# "claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06": a dated snapshot costs what its alias costs.
_SNAPSHOT = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


class PriceTable:
    """Prices keyed by "provider/model"; an override wins, and "provider/*" prices a whole provider."""

    def __init__(self, overrides: Mapping[str, Price | tuple[float, float]] | None = None) -> None:
        self._prices: dict[str, Price] = dict(DEFAULT_PRICES)
        for key, value in (overrides or {}).items():
            self._prices[key] = value if isinstance(value, Price) else Price(*value)

    def price(self, provider_id: str) -> Price | None:
        for key in (provider_id, _SNAPSHOT.sub("", provider_id), provider_id.partition("/")[0] + "/*"):
            if key in self._prices:
                return self._prices[key]
        return None

    def cost(self, provider_id: str, tokens_in: int | None, tokens_out: int | None) -> float | None:
        """USD for one answer, or None when the price or either token count is unknown."""
        price = self.price(provider_id)
        if price is None or tokens_in is None or tokens_out is None:
            return None
        return (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1_000_000

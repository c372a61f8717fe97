"""Cost per answer: known models are priced, unknown prices or token counts give None (never zero)."""

from __future__ import annotations

import pytest

from core.pricing import DEFAULT_PRICES, Price, PriceTable


def test_known_model_cost() -> None:
    table = PriceTable()
    assert table.cost("anthropic/claude-sonnet-4-5", 1_000_000, 1_000_000) == pytest.approx(18.0)
    assert table.cost("openai/gpt-5-mini", 2000, 500) == pytest.approx((2000 * 0.25 + 500 * 2.0) / 1e6)


@pytest.mark.parametrize(
    "model",
    [
        "anthropic/claude-sonnet-4-5",
        "anthropic/claude-opus-4-1",
        "anthropic/claude-haiku-4-5",
        "openai/gpt-5",
        "openai/gpt-5-mini",
        "openai/gpt-5-nano",
        "openai/gpt-4.1",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
        "openai/o4-mini",
    ],
)
def test_well_known_models_have_a_price(model: str) -> None:
    price = PriceTable().price(model)
    assert price is not None and 0 < price.input_per_mtok <= price.output_per_mtok


def test_dated_snapshots_cost_what_their_alias_costs() -> None:
    table = PriceTable()
    assert table.price("anthropic/claude-sonnet-4-5-20250929") == DEFAULT_PRICES["anthropic/claude-sonnet-4-5"]
    assert table.price("openai/gpt-4o-2024-08-06") == DEFAULT_PRICES["openai/gpt-4o"]


def test_unknown_is_none_never_zero() -> None:
    table = PriceTable()
    assert table.cost("ollama/llama3.2:3b", 100, 100) is None  # local is free only if configured so
    assert table.cost("openai/some-future-model", 100, 100) is None
    assert table.cost("openai/gpt-5", None, 100) is None
    assert table.cost("openai/gpt-5", 100, None) is None


def test_overrides_win_and_can_price_a_whole_provider() -> None:
    table = PriceTable({"openai/gpt-5": (2.0, 20.0), "ollama/*": Price(0, 0), "vllm/my-model": (0.1, 0.1)})
    assert table.cost("openai/gpt-5", 1_000_000, 0) == pytest.approx(2.0)
    assert table.cost("ollama/llama3.2:3b", 5000, 5000) == 0.0
    assert table.cost("vllm/my-model", 1_000_000, 1_000_000) == pytest.approx(0.2)
    assert table.cost("vllm/other", 1, 1) is None
    assert PriceTable().cost("openai/gpt-5", 1_000_000, 0) == pytest.approx(1.25)  # defaults untouched

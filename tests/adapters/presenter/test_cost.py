"""What every platform says about money: the estimate while the models answer, then the estimate
beside the cost (a merge included, unknown prices said), and today's spend against the budget."""

from __future__ import annotations

from dataclasses import replace

from adapters.presenter import cost
from core.cost import CostTotal, Estimate
from core.domain import AnswerStatus
from core.settings import Spending
from tests.adapters.presenter.test_card import answer, batch


def test_the_question_says_its_estimate_then_its_cost() -> None:
    estimate = Estimate(0.04123, 2, 0)
    running = replace(batch(answer(cost_usd=0.02), answer(id=8, status=AnswerStatus.RUNNING)), estimate=estimate)
    assert cost.cost_line(running) == "estimated ≈ $0.041 for 2 models"
    done = replace(running, answers=(answer(cost_usd=0.02), answer(id=8, cost_usd=0.015)))
    assert cost.cost_line(done) == "estimated ≈ $0.041, cost $0.0350"
    merging = replace(done, answers=(*done.answers, answer(id=9, is_merge=True, status=AnswerStatus.RUNNING)))
    assert cost.cost_line(merging) == "estimated ≈ $0.041 for 2 models"  # the merge is not paid yet
    merged = replace(done, answers=(*done.answers, answer(id=9, is_merge=True, cost_usd=0.005)))
    assert cost.cost_line(merged) == "estimated ≈ $0.041, cost $0.0400"
    unknown = replace(done, answers=(answer(cost_usd=0.0123), answer(id=8)), estimate=Estimate(0.02, 2, 1))
    assert cost.cost_line(unknown) == "estimated ≈ $0.020 (1 unknown), cost ≥ $0.0123 (1 price unknown)"
    before = replace(done, estimate=None)  # asked before estimates were kept
    assert cost.cost_line(before) == "cost $0.0350"


def test_spent_today_against_the_budget() -> None:
    assert cost.spending_line(Spending(CostTotal(1.5, 0), 10.0)) == (
        "Spent today (UTC): $1.50 of the $10.00 daily budget (15%)"
    )
    assert cost.spending_line(Spending(CostTotal(0.5, 2), None)) == (
        "Spent today (UTC): ≥ $0.5000 (2 prices unknown); no daily budget"
    )


def test_the_confirmation_names_the_estimate_and_the_threshold() -> None:
    said = cost.confirmation(Estimate(0.4, 4, 0, 0.25))
    assert "≈ $0.40 for 4 models" in said and "$0.2500 threshold" in said and "Nothing is stored or spent" in said
    assert cost.acknowledgement(Estimate(0.4, 4)) == "Asking… ≈ $0.40 for 4 models"

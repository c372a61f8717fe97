"""What the platforms say about money, once for all of them: a question's cost beside its estimate,
the workspace's spend today against its budget, and the words of the estimate's confirmation."""

from __future__ import annotations

from core.cost import Estimate, approx, money, total
from core.domain import AnswerStatus, Batch
from core.settings import Spending

ASK, CANCEL = "Ask", "Cancel"
CANCELLED = "Cancelled: nothing was asked, stored or spent."
CONFIRMED = "Asking the models…"
EXPIRED = "This confirmation has expired; ask the question again."
ALREADY_ASKED = "This question was already asked; its answers are in the channel."
NOT_YOURS = "Only the person who asked can confirm this question."


def _running(batch: Batch) -> bool:
    """A model, or a merge, is still writing: the total is not final yet."""
    return any(a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING) for a in batch.live_answers)


def cost_line(batch: Batch) -> str:
    """ "estimated ≈ $0.04 for 4 models" while the models answer, then "estimated ≈ $0.04, cost $0.0350"
    (a merge included); "≥ $0.0123 (2 prices unknown)" where prices are unknown. Empty when there is
    neither (a question asked before estimates were kept, nothing run yet)."""
    spent = total(batch.answers)
    estimate = batch.estimate
    if spent is None or _running(batch):
        return f"estimated {estimate.text}" if estimate else ""
    said = f"cost {spent.text}"
    if estimate is None:
        return said
    unknown = f" ({estimate.unknown} unknown)" if estimate.unknown else ""
    return f"estimated ≈ {approx(estimate.usd)}{unknown}, {said}"


def spending_line(spending: Spending) -> str:
    """ "Spent today (UTC): $1.23 of the $10.00 daily budget (12%)"."""
    spent = spending.spent
    said = f"Spent today (UTC): {spent.text}"
    budget = spending.budget_usd
    if budget is None:
        return f"{said}; no daily budget"
    share = f" ({spent.known_usd / budget:.0%})" if budget > 0 else ""
    return f"{said} of the {money(budget)} daily budget{share}"


def threshold_words(threshold_usd: float | None) -> str:
    """The confirmation threshold as every settings screen says it."""
    return "never" if threshold_usd is None else f"above {money(threshold_usd)} (estimated)"


def acknowledgement(estimate: Estimate) -> str:
    """What the asker sees at once: "Asking… ≈ $0.04 for 4 models"."""
    return f"Asking… {estimate.text}"


def confirmation(estimate: Estimate, go_ahead: str = f"choose {ASK}") -> str:
    """The private question before an expensive one is asked; `go_ahead`: how the asker confirms."""
    threshold = money(estimate.threshold_usd or 0)
    return (
        f"This question is estimated at {estimate.text}, above this workspace's {threshold} threshold. "
        f"Ask it anyway? Nothing is stored or spent unless you {go_ahead}."
    )

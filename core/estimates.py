"""The estimate of one question, read from the store: what will be sent, and what each model of this
workspace has tended to write. A few indexed reads, since it runs before a platform's acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence

from core.context import build_history
from core.cost import HISTORY_ANSWERS, Estimate, estimate, input_tokens, typical_output
from core.fanout import SYSTEM_PROMPT
from core.pricing import PriceTable
from core.store.repositories import Repository


async def estimate_question(
    repo: Repository,
    prices: PriceTable,
    workspace_id: int | None,
    conversation_id: int | None,
    models: Sequence[str],
    text: str,
    threshold_usd: float | None,
) -> Estimate:
    """`workspace_id` None: a workspace that has asked nothing yet (no history, the default outputs)."""
    texts = [SYSTEM_PROMPT, text]
    if conversation_id is not None and workspace_id is not None:  # a follow-up sends what the team kept
        conversation = await repo.conversation(conversation_id, workspace_id)
        questions = await repo.earlier_questions(conversation.id, None)
        earlier = await repo.answers_of_questions(q.id for q in questions)
        texts += [m.content for m in build_history(questions, earlier)]
    recent: dict[str, list[int]] = {}
    if workspace_id is not None:
        recent = await repo.settings.recent_output_tokens(workspace_id, models, HISTORY_ANSWERS)
    outputs = {model: typical_output(recent.get(model, [])) for model in models}
    return estimate(prices, input_tokens(texts), outputs, threshold_usd)

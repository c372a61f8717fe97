"""The team's history: one line per conversation, in one query after the page, whatever its size."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain import ConversationSummary
from core.mapping import aware
from core.merge import MERGE_ROLE
from core.store.repositories import Repository
from core.store.tables import Conversation


async def summaries(repo: Repository, found: Sequence[tuple[Conversation, str]]) -> list[ConversationSummary]:
    ids = [conversation.id for conversation, _snippet in found]
    if not ids:
        return []
    counts: dict[int, int] = {}
    models: dict[int, int] = {}
    selected: dict[int, str] = {}
    for conversation_id, questions, provider_id, is_selected, role in await repo.latest_questions(ids):
        counts[conversation_id] = questions
        merged = role == MERGE_ROLE
        if provider_id is not None and not merged:  # a merge is no model's own answer
            models[conversation_id] = models.get(conversation_id, 0) + 1
        if is_selected and provider_id is not None:
            selected[conversation_id] = f"the answer merged by {provider_id}" if merged else provider_id
    return [
        ConversationSummary(
            id=c.id,
            title=c.title,
            created_by=c.created_by,
            channel=c.channel,
            thread=c.thread_ref,
            created_at=aware(c.created_at) or c.created_at,
            updated_at=aware(c.updated_at) or c.updated_at,
            questions=counts.get(c.id, 0),
            models=models.get(c.id, 0),
            selected=selected.get(c.id),
            snippet=snippet or None,
        )
        for c, snippet in found
    ]

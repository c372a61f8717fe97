"""The team's history: one line per conversation, in three queries whatever the page size."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from core.domain import ConversationSummary
from core.mapping import aware
from core.store.repositories import Repository
from core.store.tables import AiResponse, Conversation, Message


async def summaries(repo: Repository, found: Sequence[tuple[Conversation, str]]) -> list[ConversationSummary]:
    ids = [conversation.id for conversation, _snippet in found]
    if not ids:
        return []
    rows = (await repo.session.execute(
        select(Message.conversation_id, func.count(), func.max(Message.id))
        .where(Message.conversation_id.in_(ids)).group_by(Message.conversation_id)
    )).all()
    counts = {row[0]: row[1] for row in rows}
    latest = {row[2]: row[0] for row in rows}  # latest question id -> conversation id
    models: dict[int, int] = {}
    selected: dict[int, str] = {}
    for message_id, provider_id, is_selected in (await repo.session.execute(
        select(AiResponse.message_id, AiResponse.provider_id, AiResponse.is_selected)
        .where(AiResponse.message_id.in_(list(latest)))
    )).all():
        conversation_id = latest[message_id]
        models[conversation_id] = models.get(conversation_id, 0) + 1
        if is_selected:
            selected[conversation_id] = provider_id
    return [
        ConversationSummary(
            id=c.id, title=c.title, created_by=c.created_by, channel=c.channel, thread=c.thread_ref,
            created_at=aware(c.created_at) or c.created_at, updated_at=aware(c.updated_at) or c.updated_at,
            questions=counts.get(c.id, 0), models=models.get(c.id, 0), selected=selected.get(c.id),
            snippet=snippet or None,
        )
        for c, snippet in found
    ]

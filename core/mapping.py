"""Rows to the domain values adapters receive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from core.cost import Estimate
from core.domain import (
    Answer,
    AnswerStatus,
    Batch,
    BatchStatus,
    ConversationDetail,
    Platform,
    WorkspaceRef,
)
from core.merge import MERGE_ROLE, consensus_of, merging_of, sources_of
from core.store.tables import AiResponse, Conversation, Message, RequestBatch, Workspace


def key_label(meta: dict[str, Any] | None) -> str | None:
    """Which key paid, for the card: "your key ••12ab", "team ••3f9a", "operator"; None before a call."""
    chosen = (meta or {}).get("key")
    if not isinstance(chosen, dict):
        return None
    scope, shown = chosen.get("scope"), chosen.get("hint") or ""
    if scope == "user":
        return f"your key {shown}".strip()
    if scope == "workspace":
        return f"team {shown}".strip()
    return "operator"


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def to_answer(row: AiResponse) -> Answer:
    return Answer(
        id=row.id,
        batch_id=row.batch_id,
        conversation_id=row.conversation_id,
        provider_id=row.provider_id,
        label=row.label,
        status=AnswerStatus(row.status),
        content=row.content,
        summary=row.summary,
        reasoning=row.reasoning,
        score=row.ranking_score,
        score_method=row.score_method,
        rank=row.rank,
        rank_reason=row.rank_reason,
        tokens_in=row.tokens_in,
        tokens_out=row.tokens_out,
        latency_ms=row.latency_ms,
        cost_usd=row.cost_usd,
        error=row.error,
        is_selected=row.is_selected,
        selected_by=row.selected_by,
        is_deleted=row.is_deleted,
        is_expanded=row.is_expanded,
        attempts=row.attempts,
        key_label=key_label(row.meta),
        ended=row.ended,
        thinking=row.thinking,
        replaced_characters=row.replaced_characters,
        is_merge=row.role == MERGE_ROLE,
        merged_from=sources_of(row.meta) if row.role == MERGE_ROLE else (),
        stopped_by=row.stopped_by,
    )


def to_workspace(row: Workspace) -> WorkspaceRef:
    return WorkspaceRef(Platform(row.platform), row.external_id)


def to_batch(
    batch: RequestBatch,
    message: Message,
    conversation: Conversation,
    workspace: WorkspaceRef,
    answers: Sequence[AiResponse],
) -> Batch:
    # A live, finished merge's one sentence is the question's consensus line, in place of the ranking's
    merged = next(
        (
            consensus_of(a.meta)
            for a in answers
            if a.role == MERGE_ROLE and not a.is_deleted and a.status == AnswerStatus.COMPLETED and consensus_of(a.meta)
        ),
        None,
    )
    return Batch(
        id=batch.id,
        conversation_id=conversation.id,
        message_id=message.id,
        workspace=workspace,
        channel=conversation.channel,
        thread=conversation.thread_ref,
        asker=message.author,
        question=message.content,
        status=BatchStatus(batch.status),
        answers=tuple(to_answer(a) for a in answers),
        consensus=merged or batch.consensus,
        disagree=batch.disagree and merged is None,
        created_at=aware(batch.created_at),
        merging=merging_of(message),
        estimate=Estimate.of((message.meta or {}).get("estimate")),
        delivery=(message.meta or {}).get("delivery"),
    )


def to_conversation(
    conversation: Conversation,
    workspace: WorkspaceRef,
    asked: Sequence[tuple[Message, RequestBatch]],
    answers: Sequence[AiResponse],
) -> ConversationDetail:
    by_question: dict[int, list[AiResponse]] = {}
    for answer in answers:
        by_question.setdefault(answer.message_id, []).append(answer)
    return ConversationDetail(
        id=conversation.id,
        title=conversation.title,
        created_by=conversation.created_by,
        created_at=aware(conversation.created_at) or conversation.created_at,
        batches=tuple(
            to_batch(batch, message, conversation, workspace, by_question.get(message.id, []))
            for message, batch in asked
        ),
    )

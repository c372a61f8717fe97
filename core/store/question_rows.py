"""New questions' rows: the conversation a question starts, the question and its search document, its
batch and its answers. Questions stored together get one statement per table, not one each: SQLite
has one writer, and each statement of a burst's transaction is a wait for the questions behind it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import AnswerStatus, BatchStatus
from core.store import search
from core.store.leases import Lease
from core.store.tables import AiResponse, Base, Conversation, Message, RequestBatch, utcnow

Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True)
class NewQuestion:
    workspace_id: int
    conversation: Conversation | None  # a follow-up's; None: the question starts one
    channel: str
    thread: str | None
    author: str
    text: str
    title: str  # the conversation's, when the question starts one
    meta: dict[str, Any]
    models: Sequence[tuple[str, str]]  # (model id, label), in the order asked
    keys: Mapping[str, dict[str, Any]]  # model id -> the meta of the key that pays (shown on the card)


@dataclass(frozen=True)
class StoredQuestion:
    conversation: Conversation
    message: Message
    batch: RequestBatch  # claimed by the lease given, running
    answers: list[AiResponse]  # running, in the order asked


class QuestionRows:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, questions: Sequence[NewQuestion], lease: Lease) -> list[StoredQuestion]:
        """The questions' rows, their batches already claimed by `lease` and running, each answer with
        the key that pays for it. Five statements, however many questions (six with follow-ups)."""
        now = utcnow()
        started = iter(
            await self._insert(
                Conversation,
                [
                    {
                        "workspace_id": q.workspace_id,
                        "channel": q.channel,
                        "thread_ref": q.thread,
                        "title": q.title,
                        "created_by": q.author,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for q in questions
                    if q.conversation is None
                ],
            )
        )
        conversations = [q.conversation or next(started) for q in questions]
        for question, conversation in zip(questions, conversations, strict=True):
            if question.conversation is not None:
                conversation.updated_at = now  # a follow-up moves it up the history
        messages = await self._insert(
            Message,
            [
                {"conversation_id": c.id, "author": q.author, "content": q.text, "created_at": now, "meta": q.meta}
                for q, c in zip(questions, conversations, strict=True)
            ],
        )
        await search.index(
            self.session,
            [
                {
                    "workspace_id": c.workspace_id,
                    "conversation_id": c.id,
                    "source": "question",
                    "source_id": m.id,
                    "body": m.content,
                }
                for c, m in zip(conversations, messages, strict=True)
            ],
        )
        batches = await self._insert(
            RequestBatch,
            [
                {
                    "conversation_id": m.conversation_id,
                    "message_id": m.id,
                    "expected": len(q.models),
                    "completed": 0,
                    "status": BatchStatus.RUNNING.value,
                    "created_at": now,
                    "started_at": now,
                    **lease.columns(),
                }
                for q, m in zip(questions, messages, strict=True)
            ],
        )
        answers = await self._insert(
            AiResponse,
            [
                {
                    "batch_id": b.id,
                    "message_id": b.message_id,
                    "conversation_id": b.conversation_id,
                    "provider_id": provider_id,
                    "model": provider_id.split("/", 1)[-1],
                    "label": label,
                    "status": AnswerStatus.RUNNING.value,
                    "started_at": now,
                    "meta": {"key": q.keys[provider_id]},  # which key paid: on the card
                }
                for q, b in zip(questions, batches, strict=True)
                for provider_id, label in q.models
            ],
        )
        by_batch: dict[int, list[AiResponse]] = {}
        for answer in answers:
            by_batch.setdefault(answer.batch_id, []).append(answer)
        return [
            StoredQuestion(c, m, b, by_batch.get(b.id, []))
            for c, m, b in zip(conversations, messages, batches, strict=True)
        ]

    async def _insert(self, table: type[Row], rows: list[dict[str, Any]]) -> list[Row]:
        """One statement for all `rows`, read back in their order (ids are given in the order inserted)."""
        if not rows:
            return []
        # render_nulls: a row with None (a question outside a thread) still shares the one statement
        found = await self.session.scalars(
            insert(table).returning(table), rows, execution_options={"render_nulls": True}
        )
        return sorted(found, key=lambda row: row.id)  # type: ignore[attr-defined]  # every table has an id

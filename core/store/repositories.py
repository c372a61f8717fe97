"""Queries, each scoped to a workspace. They run inside the caller's transaction and never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import AnswerStatus, WorkspaceRef
from core.errors import NotFoundError
from core.store import leaderboard_rows, search
from core.store.finished_rows import FinishedRows
from core.store.key_rows import KeyRows
from core.store.leaderboard_rows import AnswerOutcome
from core.store.leases import BatchLeases, Lease
from core.store.message_rows import MessageRows
from core.store.question_rows import QuestionRows
from core.store.setting_rows import SettingRows
from core.store.stops import StopRows
from core.store.tables import (
    AiResponse,
    Conversation,
    Message,
    ProcessedEvent,
    RequestBatch,
    SearchDocument,
    Workspace,
    utcnow,
)
from core.store.upsert import upsert

_ANSWERS: Table = AiResponse.__table__  # type: ignore[assignment]  # a mapped class's table is a Table


class Repository:
    """One transaction's queries. Batch leases, stored keys, settings, platform messages, stops and
    finished answers have modules of their own, reached as `leases`, `keys`, `settings`, `messages`,
    `stops`, `finished` and `questions`."""

    def __init__(
        self, session: AsyncSession, workspaces: dict[WorkspaceRef, int] | None = None, *, writes: bool = False
    ) -> None:
        self.session = session
        # Workspace ids already committed (the store's cache, shared by its transactions): rows are
        # never deleted or renumbered, and every call starts with this lookup. Only reads add to it:
        # a write may see a row of its own (or of its group's) that is not committed yet.
        self._workspaces = workspaces if workspaces is not None else {}
        self._keeps_workspaces = not writes
        self.leases = BatchLeases(session)
        self.keys = KeyRows(session)
        self.settings = SettingRows(session)
        self.messages = MessageRows(session)
        self.stops = StopRows(session)
        self.finished = FinishedRows(session, self.stops)
        self.questions = QuestionRows(session)

    async def leaderboard_outcomes(
        self, workspace_id: int, since: datetime, channel: str | None
    ) -> list[AnswerOutcome]:
        """Each completed answer since `since`, for the leaderboard (leaderboard_rows.py)."""
        return await leaderboard_rows.answer_outcomes(self.session, workspace_id, since, channel)

    async def flush(self) -> None:
        """Send the changes made to loaded rows now (statements that follow see them)."""
        await self.session.flush()

    # -- workspaces and idempotency ------------------------------------------------------------

    async def workspace_id(self, ref: WorkspaceRef, *, create: bool = True) -> int | None:
        if ref in self._workspaces:
            return self._workspaces[ref]
        query = select(Workspace.id).where(
            Workspace.platform == ref.platform.value, Workspace.external_id == ref.external_id
        )
        if (found := await self.session.scalar(query)) is not None or not create:
            if found is not None and self._keeps_workspaces:
                self._workspaces[ref] = found
            return found
        created = await self.session.scalar(
            upsert(self.session, Workspace)
            .values(platform=ref.platform.value, external_id=ref.external_id, created_at=utcnow())
            .on_conflict_do_nothing()
            .returning(Workspace.id)
        )
        return int(created) if created is not None else await self.session.scalar(query)

    async def claim_event(self, workspace_id: int, event_id: str) -> bool:
        result: Any = await self.session.execute(
            upsert(self.session, ProcessedEvent)
            .values(workspace_id=workspace_id, event_id=event_id, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        return bool(result.rowcount == 1)

    # -- conversations, questions, batches ------------------------------------------------------

    async def conversation(self, conversation_id: int, workspace_id: int) -> Conversation:
        found = await self.session.get(Conversation, conversation_id)
        if found is None or found.workspace_id != workspace_id:
            raise NotFoundError("That conversation does not exist in this workspace.")
        return found

    async def set_thread(self, conversation_id: int, workspace_id: int, thread: str) -> None:
        await self.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.workspace_id == workspace_id)
            .values(thread_ref=thread)
        )

    async def conversation_by_thread(self, workspace_id: int, channel: str, thread: str) -> int | None:
        return await self.session.scalar(
            select(Conversation.id)
            .where(
                Conversation.workspace_id == workspace_id,
                Conversation.channel == channel,
                Conversation.thread_ref == thread,
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )

    async def add_merge(self, batch: RequestBatch, provider_id: str, label: str, lease: Lease) -> AiResponse:
        """A pending merge for the batch's question, and the batch reopened under `lease` to write it."""
        row = AiResponse(
            batch_id=batch.id,
            message_id=batch.message_id,
            conversation_id=batch.conversation_id,
            provider_id=provider_id,
            model=provider_id.split("/", 1)[-1],
            label=label,
            role="merge",
            status=AnswerStatus.PENDING.value,
            meta={},
        )
        self.session.add(row)
        await self.leases.reopen(batch.id, lease, uncount=False)
        await self.session.flush()
        return row

    async def batch_rows(self, batch_id: int) -> tuple[RequestBatch, Message, Conversation, list[AiResponse]]:
        batch = await self.session.get(RequestBatch, batch_id)
        if batch is None:
            raise NotFoundError()
        message = await self.session.get(Message, batch.message_id)
        conversation = await self.session.get(Conversation, batch.conversation_id)
        assert message is not None and conversation is not None
        answers = await self.session.scalars(
            select(AiResponse).where(AiResponse.batch_id == batch_id).order_by(AiResponse.id)
        )
        return batch, message, conversation, list(answers)

    async def batch_rows_reloaded(self, batch_id: int) -> tuple[RequestBatch, Message, Conversation, list[AiResponse]]:
        """`batch_rows` after this transaction's changes, its answers read again from the database
        (a bulk update may have changed them behind the loaded rows)."""
        await self.session.flush()
        batch, message, conversation, answers = await self.batch_rows(batch_id)
        for answer in answers:
            await self.session.refresh(answer)
        return batch, message, conversation, answers

    async def batch_with_workspace(
        self, batch_id: int
    ) -> tuple[RequestBatch, Message, Conversation, Workspace, list[AiResponse]]:
        found = (await self.batches_with_workspace([batch_id])).get(batch_id)
        if found is None:
            raise NotFoundError()
        return found

    async def batches_with_workspace(
        self, batch_ids: Sequence[int]
    ) -> dict[int, tuple[RequestBatch, Message, Conversation, Workspace, list[AiResponse]]]:
        """Each batch found, with its question, conversation and workspace (one statement), then its
        answers (one more), whatever the number of batches."""
        rows = await self.session.execute(
            select(RequestBatch, Message, Conversation, Workspace)
            .join(Message, Message.id == RequestBatch.message_id)
            .join(Conversation, Conversation.id == RequestBatch.conversation_id)
            .join(Workspace, Workspace.id == Conversation.workspace_id)
            .where(RequestBatch.id.in_(batch_ids))
        )
        found = {row[0].id: row for row in rows}
        answers: dict[int, list[AiResponse]] = {batch_id: [] for batch_id in found}
        if found:
            for answer in await self.session.scalars(
                select(AiResponse).where(AiResponse.batch_id.in_(list(found))).order_by(AiResponse.id)
            ):
                answers[answer.batch_id].append(answer)
        return {
            batch_id: (batch, message, conversation, workspace, answers[batch_id])
            for batch_id, (batch, message, conversation, workspace) in found.items()
        }

    async def answer_outcomes(self, batch_id: int) -> list[Any]:
        """(id, status, is_deleted, content, ended, label, model, role) of each answer: what ranking
        needs, without loading rows."""
        rows = await self.session.execute(
            select(
                _ANSWERS.c.id,
                _ANSWERS.c.status,
                _ANSWERS.c.is_deleted,
                _ANSWERS.c.content,
                _ANSWERS.c.ended,
                _ANSWERS.c.label,
                _ANSWERS.c.model,
                _ANSWERS.c.role,
            )
            .where(_ANSWERS.c.batch_id == batch_id)
            .order_by(_ANSWERS.c.id)
        )
        return list(rows)

    async def answer(self, answer_id: int, workspace_id: int, *, lock: bool = False) -> AiResponse:
        query = (
            select(AiResponse)
            .join(Conversation, Conversation.id == AiResponse.conversation_id)
            .where(AiResponse.id == answer_id, Conversation.workspace_id == workspace_id)
        )
        found = await self.session.scalar(query)
        if found is None:
            raise NotFoundError("That answer does not exist in this workspace.")
        if lock:  # serialise every change to one question's answers (PostgreSQL row lock)
            await self.session.execute(select(Message.id).where(Message.id == found.message_id).with_for_update())
            await self.session.refresh(found)
        return found

    async def lock_question(self, message_id: int) -> None:
        """Serialise every change to one question's answers (a PostgreSQL row lock until commit)."""
        await self.session.execute(select(Message.id).where(Message.id == message_id).with_for_update())

    async def answers_of_question(self, message_id: int) -> list[AiResponse]:
        rows = await self.session.scalars(
            select(AiResponse).where(AiResponse.message_id == message_id).order_by(AiResponse.id)
        )
        return list(rows)

    async def earlier_questions(self, conversation_id: int, before_message_id: int | None) -> list[Message]:
        query = select(Message).where(Message.conversation_id == conversation_id)
        if before_message_id is not None:
            query = query.where(Message.id < before_message_id)
        return list(await self.session.scalars(query.order_by(Message.id)))

    async def questions_with_batches(self, conversation_id: int) -> list[tuple[Message, RequestBatch]]:
        """Each question of the conversation with its batch, in the order asked."""
        rows = await self.session.execute(
            select(Message, RequestBatch)
            .join(RequestBatch, RequestBatch.message_id == Message.id)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id)
        )
        return [(message, batch) for message, batch in rows]

    async def answers_of_questions(self, message_ids: Iterable[int]) -> list[AiResponse]:
        ids = list(message_ids)
        if not ids:
            return []
        rows = await self.session.scalars(
            select(AiResponse).where(AiResponse.message_id.in_(ids)).order_by(AiResponse.id)
        )
        return list(rows)

    async def question(self, message_id: int) -> Message | None:
        return await self.session.get(Message, message_id)

    async def unselect_all(self, message_id: int) -> None:
        await self.session.execute(
            update(AiResponse)
            .where(AiResponse.message_id == message_id, AiResponse.is_selected.is_(True))
            .values(is_selected=False, selected_by=None)
        )
        await self.session.flush()

    # -- settings, history and search -----------------------------------------------------------

    async def index_text(self, conversation: Conversation, source: str, source_id: int, body: str) -> None:
        await search.index(
            self.session,
            [
                {
                    "workspace_id": conversation.workspace_id,
                    "conversation_id": conversation.id,
                    "source": source,
                    "source_id": source_id,
                    "body": body,
                }
            ],
        )

    async def unindex(self, source: str, source_ids: Iterable[int]) -> None:
        ids = list(source_ids)
        if ids:
            rows = await self.session.scalars(
                select(SearchDocument).where(and_(SearchDocument.source == source, SearchDocument.source_id.in_(ids)))
            )
            for row in rows:
                await self.session.delete(row)

    async def conversations_page(self, workspace_id: int, limit: int, offset: int) -> list[Conversation]:
        # The offset is walked in the listing index alone (it holds every ORDER BY column); only
        # the page's rows are read from the table.
        order = (Conversation.updated_at.desc(), Conversation.id.desc())
        page = (
            select(Conversation.id)
            .where(Conversation.workspace_id == workspace_id, Conversation.archived == false())
            .order_by(*order)
            .limit(limit)
            .offset(offset)
            .scalar_subquery()
        )
        rows = await self.session.scalars(select(Conversation).where(Conversation.id.in_(page)).order_by(*order))
        return list(rows)

    async def latest_questions(
        self, conversation_ids: Sequence[int]
    ) -> list[tuple[int, int, str | None, bool | None, str | None]]:
        """(conversation id, questions asked, provider id, is selected, role) for each answer to each
        conversation's latest question; one row with None answer columns for a question without answers.
        One round trip, whatever the number of conversations."""
        latest = (
            select(
                Message.conversation_id.label("conversation_id"),
                func.count().label("questions"),
                func.max(Message.id).label("latest"),
            )
            .where(Message.conversation_id.in_(conversation_ids))
            .group_by(Message.conversation_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(
                latest.c.conversation_id,
                latest.c.questions,
                AiResponse.provider_id,
                AiResponse.is_selected,
                AiResponse.role,
            ).outerjoin(AiResponse, AiResponse.message_id == latest.c.latest)
        )
        return [(row[0], row[1], row[2], row[3], row[4]) for row in rows.all()]

    async def search(self, workspace_id: int, query: str, limit: int, offset: int) -> list[tuple[Conversation, str]]:
        return await search.search(self.session, workspace_id, query, limit, offset)

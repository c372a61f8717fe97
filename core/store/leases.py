"""Which process runs which batch. The lease columns of request_batches are written here only.

A batch is leased until its cards are delivered in their final state, not only until its answers
are stored: a process that dies in between leaves a batch the next one adopts to finish its cards."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import AnswerStatus, BatchStatus
from core.store.tables import AiResponse, Conversation, RequestBatch, Workspace, utcnow

UNFINISHED = (BatchStatus.PENDING.value, BatchStatus.RUNNING.value)
_UNDONE = or_(RequestBatch.status.in_(UNFINISHED), RequestBatch.delivered_at.is_(None))


@dataclass(frozen=True, slots=True)
class Closing:
    """A ranked batch to close: its status, and with `rescore` its consensus line (see `finish`)."""

    batch_id: int
    status: BatchStatus
    consensus: str | None = None
    disagree: bool = False
    rescore: bool = True


@dataclass(frozen=True, slots=True)
class Lease:
    """`owner` runs the batch until `until`, unless it renews the lease first."""

    owner: str
    until: datetime

    def columns(self) -> dict[str, Any]:
        return {"lease_owner": self.owner, "lease_expires_at": self.until}


class BatchLeases:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, batch_id: int, lease: Lease) -> bool:
        """Take an unfinished batch that is free, already ours, or whose lease ran out."""
        now = utcnow()
        result: Any = await self.session.execute(
            update(RequestBatch)
            .where(
                RequestBatch.id == batch_id,
                RequestBatch.status.in_(UNFINISHED),
                or_(
                    RequestBatch.lease_owner.is_(None),
                    RequestBatch.lease_owner == lease.owner,
                    RequestBatch.lease_expires_at < now,
                ),
            )
            .values(
                status=BatchStatus.RUNNING.value,
                started_at=func.coalesce(RequestBatch.started_at, now),
                **lease.columns(),
            )
        )
        return bool(result.rowcount == 1)

    async def reopen(self, batch_id: int, lease: Lease, *, uncount: bool) -> None:
        """A retried answer runs the batch again, under `lease`, whoever held it before; `uncount`
        takes back the answer the batch counted as completed."""
        batch = await self.session.get(RequestBatch, batch_id)
        assert batch is not None
        if uncount:
            batch.completed -= 1
        batch.status, batch.finished_at, batch.delivered_at = BatchStatus.RUNNING.value, None, None
        batch.lease_owner, batch.lease_expires_at = lease.owner, lease.until

    async def renew(self, batch_ids: Sequence[int], lease: Lease) -> None:
        if batch_ids:
            await self.session.execute(
                update(RequestBatch)
                .where(RequestBatch.id.in_(batch_ids), RequestBatch.lease_owner == lease.owner)
                .values(lease_expires_at=lease.until)
            )

    async def finish(self, owner: str, closing: Sequence[Closing]) -> set[int]:
        """Close each batch that `owner` still holds and no answer waits to run in (a retry clicked
        meanwhile), in one statement whatever their number: the ids closed. A batch not `rescore`d
        keeps its consensus line (only a merge ran). `owner` keeps the lease until `delivered`."""
        if not closing:
            return set()
        rescored = [c for c in closing if c.rescore]
        ranking: dict[str, Any] = {}
        if rescored:
            ranking = {
                "consensus": case(
                    {c.batch_id: c.consensus for c in rescored}, value=RequestBatch.id, else_=RequestBatch.consensus
                ),
                "disagree": case(
                    {c.batch_id: c.disagree for c in rescored}, value=RequestBatch.id, else_=RequestBatch.disagree
                ),
            }
        waiting = select(AiResponse.id).where(
            AiResponse.batch_id == RequestBatch.id, AiResponse.status == AnswerStatus.PENDING.value
        )
        closed = await self.session.scalars(
            update(RequestBatch)
            .where(
                RequestBatch.id.in_([c.batch_id for c in closing]),
                RequestBatch.lease_owner == owner,
                ~waiting.exists(),
            )
            .values(
                status=case({c.batch_id: c.status.value for c in closing}, value=RequestBatch.id),
                **ranking,
                finished_at=utcnow(),
                delivered_at=None,
            )
            .returning(RequestBatch.id)
        )
        return set(closed)

    async def adopt_delivery(self, batch_id: int, lease: Lease) -> bool:
        """Take a finished batch whose cards were never delivered, if its lease is free or ran out."""
        result: Any = await self.session.execute(
            update(RequestBatch)
            .where(
                RequestBatch.id == batch_id,
                RequestBatch.status.not_in(UNFINISHED),
                RequestBatch.delivered_at.is_(None),
                or_(
                    RequestBatch.lease_owner.is_(None),
                    RequestBatch.lease_owner == lease.owner,
                    RequestBatch.lease_expires_at < utcnow(),
                ),
            )
            .values(**lease.columns())
        )
        return bool(result.rowcount == 1)

    async def hand_back(self, batch_id: int) -> None:
        """Let go of a finished batch this process cannot deliver: a process serving its platform adopts it."""
        await self.session.execute(
            update(RequestBatch)
            .where(RequestBatch.id == batch_id, RequestBatch.status.not_in(UNFINISHED))
            .values(lease_owner=None, lease_expires_at=utcnow() - timedelta(seconds=1))
        )

    async def delivered(self, batch_ids: Sequence[int]) -> None:
        """The finished batches' cards show their final state: nobody needs to hold them any more."""
        await self.session.execute(
            update(RequestBatch)
            .where(RequestBatch.id.in_(batch_ids), RequestBatch.status.not_in(UNFINISHED))
            .values(delivered_at=utcnow(), lease_owner=None, lease_expires_at=None)
        )

    async def release(self, owner: str) -> None:
        """Hand back every unfinished or undelivered batch `owner` holds, already expired: the next
        claim takes it at once."""
        await self.session.execute(
            update(RequestBatch)
            .where(RequestBatch.lease_owner == owner, _UNDONE)
            .values(lease_owner=None, lease_expires_at=utcnow() - timedelta(seconds=1))
        )

    async def orphaned(self, delivering: Collection[str] = (), limit: int = 100) -> list[int]:
        """Unfinished batches, and finished ones never delivered on one of the `delivering` platforms,
        whose lease ran out; rows other replicas are claiming are skipped."""
        on_platforms = select(Conversation.id).join(Workspace).where(Workspace.platform.in_(list(delivering)))
        undelivered = and_(RequestBatch.delivered_at.is_(None), RequestBatch.conversation_id.in_(on_platforms))
        rows = await self.session.scalars(
            select(RequestBatch.id)
            .where(
                or_(RequestBatch.status.in_(UNFINISHED), undelivered),
                or_(RequestBatch.lease_expires_at.is_(None), RequestBatch.lease_expires_at < utcnow()),
            )
            .order_by(RequestBatch.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

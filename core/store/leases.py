"""Which process runs which batch. The lease columns of request_batches are written here only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain import AnswerStatus, BatchStatus
from core.store.tables import AiResponse, RequestBatch, utcnow

UNFINISHED = (BatchStatus.PENDING.value, BatchStatus.RUNNING.value)


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
        batch.status, batch.finished_at = BatchStatus.RUNNING.value, None
        batch.lease_owner, batch.lease_expires_at = lease.owner, lease.until

    async def renew(self, batch_ids: Sequence[int], lease: Lease) -> None:
        if batch_ids:
            await self.session.execute(
                update(RequestBatch)
                .where(RequestBatch.id.in_(batch_ids), RequestBatch.lease_owner == lease.owner)
                .values(lease_expires_at=lease.until)
            )

    async def finish(
        self, batch_id: int, owner: str, status: str, consensus: str | None, disagree: bool, *, rescore: bool = True
    ) -> bool:
        """Close the batch if `owner` still holds it and no answer waits to run (a retry clicked
        meanwhile); the checks and the write are one statement. Without `rescore` the consensus line
        stays as it was (only a merge ran)."""
        ranking = {"consensus": consensus, "disagree": disagree} if rescore else {}
        waiting = select(AiResponse.id).where(
            AiResponse.batch_id == batch_id, AiResponse.status == AnswerStatus.PENDING.value
        )
        result: Any = await self.session.execute(
            update(RequestBatch)
            .where(RequestBatch.id == batch_id, RequestBatch.lease_owner == owner, ~waiting.exists())
            .values(
                status=status,
                **ranking,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        return bool(result.rowcount == 1)

    async def release(self, owner: str) -> None:
        """Hand back every unfinished batch `owner` holds, already expired: the next claim takes it at once."""
        await self.session.execute(
            update(RequestBatch)
            .where(RequestBatch.lease_owner == owner, RequestBatch.status.in_(UNFINISHED))
            .values(lease_owner=None, lease_expires_at=utcnow() - timedelta(seconds=1))
        )

    async def orphaned(self, limit: int = 100) -> list[int]:
        """Unfinished batches whose lease ran out; rows other replicas are claiming are skipped."""
        rows = await self.session.scalars(
            select(RequestBatch.id)
            .where(
                RequestBatch.status.in_(UNFINISHED),
                or_(RequestBatch.lease_expires_at.is_(None), RequestBatch.lease_expires_at < utcnow()),
            )
            .order_by(RequestBatch.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

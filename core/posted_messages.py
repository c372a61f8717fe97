"""Where each question's and answer's message was posted, stored as the platforms post them. The
references that arrive while one write of them waits for its turn join it: one write (one statement
per workspace) carries a burst's cards, instead of one write per card."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from core.domain import MessageRef, WorkspaceRef
from core.grouped_writes import GroupedWriter
from core.store.repositories import Repository

Ref = tuple[str, int, MessageRef]  # ("batch" or "answer", its id, the message)


@dataclass(frozen=True)
class _Posted:
    workspace: WorkspaceRef
    refs: Sequence[Ref]
    conversation_id: int | None
    thread: str | None  # the thread the question started, if it did


class PostedMessages:
    def __init__(self, writes: GroupedWriter, workspace_id: Callable[[Repository, WorkspaceRef], Awaitable[int]]):
        self._writes, self._workspace_id = writes, workspace_id
        self._pending: list[_Posted] = []
        self._write: asyncio.Future[None] | None = None  # the write the next references join

    async def remember(
        self, workspace: WorkspaceRef, refs: Sequence[Ref], conversation_id: int | None, thread: str | None
    ) -> None:
        """Once stored, with the conversation's thread (when the question started one)."""
        self._pending.append(_Posted(workspace, refs, conversation_id, thread))
        if self._write is None:
            self._write = write = asyncio.ensure_future(self._writes.write(self._store_pending))
            write.add_done_callback(self._ended)
        await asyncio.shield(self._write)

    def _ended(self, write: asyncio.Future[None]) -> None:
        if self._write is write:  # failed before it took the pending ones: the next call writes them
            self._write = None

    async def _store_pending(self, repo: Repository) -> None:
        posted, self._pending, self._write = self._pending, [], None  # later ones make the next write
        ids: dict[WorkspaceRef, int] = {}
        by_workspace: dict[int, list[Ref]] = {}
        for item in posted:
            if item.workspace not in ids:
                ids[item.workspace] = await self._workspace_id(repo, item.workspace)
            workspace_id = ids[item.workspace]
            if item.conversation_id is not None and item.thread is not None:
                await repo.set_thread(item.conversation_id, workspace_id, item.thread)
            by_workspace.setdefault(workspace_id, []).extend(item.refs)
        for workspace_id, refs in by_workspace.items():
            await repo.messages.remember(workspace_id, refs)

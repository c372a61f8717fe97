"""Export on the question's message: the conversation's decision record as a Markdown file, and
where it goes (the conversation's thread). Each platform only sends it.

Reading is not privileged: anyone who can see the thread may export it, but only within their own
workspace, since the question is looked up in the clicker's workspace."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from adapters.presenter import record
from core.domain import Batch, ConversationDetail, WorkspaceRef

NAME_CHARS = 60  # of the title, in the file's name
_UNSAFE = re.compile(r"[^\w]+")  # anything but letters, digits and `_`: path characters included
NamesOf = Callable[[set[str]], Awaitable[Mapping[str, str]]]  # user ids -> the names people know


class ReadsConversations(Protocol):
    async def get_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch: ...
    async def get_conversation(self, conversation_id: int, workspace: WorkspaceRef) -> ConversationDetail: ...


@dataclass(frozen=True, slots=True)
class RecordFile:
    name: str  # safe as a file name on any system: no path, no dot but the `.md`
    title: str
    content: bytes  # UTF-8 Markdown
    channel: str  # where the question was asked
    thread: str | None  # the conversation's thread, when it has one


def file_name(conversation: ConversationDetail) -> str:
    """`<the title's words joined by dashes>.md`; `conversation-<id>.md` when the title has no words."""
    folded = unicodedata.normalize("NFKC", conversation.title)
    words = _UNSAFE.sub("-", folded).strip("-_")[:NAME_CHARS].rstrip("-_")
    return f"{words or f'conversation-{conversation.id}'}.md"


async def decision_record(
    service: ReadsConversations, batch_id: int, workspace: WorkspaceRef, names_of: NamesOf | None = None
) -> RecordFile:
    """The record of the conversation that question `batch_id` belongs to, naming people through
    `names_of` where the platform knows them; NotFoundError when the question is not one of
    `workspace`'s."""
    batch = await service.get_batch(batch_id, workspace)
    conversation = await service.get_conversation(batch.conversation_id, workspace)
    names = await names_of(record.people(conversation)) if names_of else {}
    return RecordFile(
        name=file_name(conversation),
        title=f"Decision record: {' '.join(conversation.title.split())}",
        content=record.markdown(conversation, names).encode(),
        channel=batch.channel,
        thread=batch.thread,
    )

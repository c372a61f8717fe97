"""Claiming a batch to run: its lease, and every answer to run marked running with the key that
pays for it, in the caller's transaction. A new question's batch is stored already claimed, in the
transaction that stores the question (`claim_stored`); a resumed batch is claimed in one of its own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import merge
from core.domain import Answer, AnswerStatus
from core.keyring import KeyChoice, KeyRing
from core.mapping import to_answer
from core.store.leases import Lease
from core.store.question_rows import StoredQuestion
from core.store.repositories import Repository
from core.store.stops import close_unwritten, is_stopping
from core.store.tables import AiResponse, Conversation, Message, utcnow


@dataclass
class MergeJob:
    plan: merge.MergePlan  # which answer shows under which letter
    meta: dict[str, Any]  # the merge row's meta as started (which key paid, its sources)


@dataclass(frozen=True)
class Claimed:
    """A batch claimed by this process, its answers marked running: what its model requests need."""

    platform: str  # the workspace's
    question: str
    conversation: Conversation
    questions: list[Message]  # the conversation's earlier questions, and their answers
    earlier: list[AiResponse]
    answers: int  # in the batch, whether they run now or not
    started: list[Answer]
    choices: dict[int, KeyChoice]  # answer id -> the key that pays for it
    jobs: dict[int, MergeJob]  # the merge's answer id -> its job


async def claim(repo: Repository, batch_id: int, lease: Lease, keys: KeyRing) -> Claimed | None:
    """A batch stored earlier (resumed, retried); None: another process holds it."""
    if not await repo.leases.claim(batch_id, lease):
        return None
    _batch, message, conversation, workspace, answers = await repo.batch_with_workspace(batch_id)
    return await _start(repo, keys, workspace.platform, message, conversation, answers)


async def claim_stored(
    repo: Repository, platform: str, stored: StoredQuestion, choices: Mapping[str, KeyChoice], *, new_conversation: bool
) -> Claimed:
    """The batch of a question stored in this transaction, already claimed and running, each answer
    with the key that pays for it (`choices`, by model): no statement to take it, to mark its answers,
    to read them back, or to look for the history of a conversation it just began."""
    message, conversation = stored.message, stored.conversation
    questions = [] if new_conversation else await repo.earlier_questions(conversation.id, message.id)
    earlier = await repo.answers_of_questions(q.id for q in questions)
    started = [to_answer(row) for row in stored.answers]
    paying = {row.id: choices[row.provider_id] for row in stored.answers}
    return Claimed(
        platform, message.content, conversation, questions, earlier, len(stored.answers), started, paying, {}
    )


async def _start(
    repo: Repository,
    keys: KeyRing,
    platform: str,
    message: Message,
    conversation: Conversation,
    answers: list[AiResponse],
) -> Claimed:
    """Each answer to run is marked running with the key that pays for it, and then writes once,
    when it is finished."""
    questions = await repo.earlier_questions(conversation.id, message.id)
    earlier = await repo.answers_of_questions(q.id for q in questions)
    unfinished = [a for a in answers if a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING)]
    for row in [row for row in unfinished if is_stopping(row)]:  # stopped while its process was gone
        close_unwritten(row)
    todo = [row for row in unfinished if row.status != AnswerStatus.FAILED]
    by_model = await keys.choose_all(repo, conversation.workspace_id, message.author, [row.provider_id for row in todo])
    await keys.mark_used(repo, by_model.values())
    choices = {row.id: by_model[row.provider_id] for row in todo}
    now = utcnow()
    for row in todo:
        row.status, row.started_at = AnswerStatus.RUNNING.value, now
        row.meta = {**(row.meta or {}), "key": choices[row.id].meta}  # which key paid: on the card
    jobs = {row.id: _merge_job(row, answers) for row in todo if row.role == merge.MERGE_ROLE}
    await repo.flush()
    started = [to_answer(row) for row in todo]
    return Claimed(platform, message.content, conversation, questions, earlier, len(answers), started, choices, jobs)


def _merge_job(row: AiResponse, answers: list[AiResponse]) -> MergeJob:
    """The merge's letters, fixed (and stored) when it starts; the answers are read again when it runs."""
    plan = merge.plan(row.id, merge.mergeable(answers))
    row.meta = {**(row.meta or {}), "merge": plan.stored()}
    return MergeJob(plan, dict(row.meta))

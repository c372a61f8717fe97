"""The fan-out: every model of a question runs at once, each answer is stored the moment it
arrives, then the batch is ranked. A model that fails becomes a failed answer, never an exception.

A batch is run under a lease. The lease is renewed while it runs; when a process dies, the lease
runs out and `resume_orphans` (at start-up, or on another replica) finishes what is left: stored
answers are kept, the others run again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from core import logcontext
from core.context import QUOTE_NOTICE, build_history
from core.domain import Answer, AnswerStatus, BatchStatus
from core.errors import ConsensusError, KeyUnreadableError
from core.events import AnswerFailed, AnswerProgress, AnswerReady, AnswerStarted, BatchRanked, EventBus
from core.keyring import KeyChoice, KeyRing
from core.keys import scrub
from core.mapping import to_answer, to_batch, to_workspace
from core.metrics import Metrics, NoMetrics
from core.pricing import PriceTable
from core.providers.base import ChatMessage, ChatRequest
from core.providers.registry import ProviderRegistry
from core.ranking import Ranker
from core.resilience import CallOutcome, ResilientCaller
from core.review import REVIEW_INSTRUCTIONS, review_answer
from core.store.repositories import Repository
from core.store.store import Store
from core.store.tables import AiResponse, Conversation, RequestBatch, Workspace, utcnow

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are one of several AI models answering the same question for a team in a chat thread. "
    "Answer accurately and concisely; use Markdown where it helps. " + QUOTE_NOTICE + "\n\n"
    + REVIEW_INSTRUCTIONS
)


@dataclass(frozen=True)
class FanOutSettings:
    lease_seconds: float = 60.0
    deadline_seconds: float = 300.0  # the whole batch, all retries included
    progress_interval: float = 0.25  # streamed text is published at most this often per answer
    max_tokens: int = 2048


def process_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class FanOut:
    keys: KeyRing | None = None  # stored API keys (set by the service); None: the operator's keys pay

    def __init__(self, store: Store, registry: ProviderRegistry, caller: ResilientCaller, ranker: Ranker,
                 prices: PriceTable, bus: EventBus, settings: FanOutSettings | None = None,
                 metrics: Metrics | None = None) -> None:
        self.store, self.registry, self.caller = store, registry, caller
        self.ranker, self.prices, self.bus = ranker, prices, bus
        self.settings = settings or FanOutSettings()
        self.metrics: Metrics = metrics or NoMetrics()
        self.owner = process_identity()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._renewer: asyncio.Task[None] | None = None

    # -- scheduling -----------------------------------------------------------------------------

    def start(self, batch_id: int) -> None:
        if batch_id in self._tasks:
            return
        task = asyncio.create_task(self._run(batch_id), name=f"batch-{batch_id}")
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(batch_id, None))
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_leases(), name="lease-renewer")

    @property
    def in_flight(self) -> int:
        """Batches this process is running now."""
        return len(self._tasks)

    async def wait(self, batch_id: int) -> None:
        task = self._tasks.get(batch_id)
        if task is not None:
            await asyncio.shield(task)

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def lease_until(self) -> timedelta:
        return timedelta(seconds=self.settings.lease_seconds)

    async def resume_orphans(self) -> list[int]:
        """Claim and restart batches whose process died (their lease ran out)."""
        async with self.store.write() as repo:
            orphans = await repo.orphaned_batches()
            claimed = [b for b in orphans if await repo.claim_batch(b, self.owner, utcnow() + self.lease_until())]
        for batch_id in claimed:
            log.info("resuming batch %s left unfinished by another process", batch_id)
            self.start(batch_id)
        return claimed

    async def stop(self, deadline: float) -> None:
        """Let running batches finish within `deadline` seconds; hand the rest back."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=deadline)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        async with self.store.write() as repo:
            await repo.release_leases(self.owner)

    async def _renew_leases(self) -> None:
        while self._tasks:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                async with self.store.write() as repo:
                    await repo.renew_lease(list(self._tasks), self.owner, utcnow() + self.lease_until())
            except Exception:  # a missed renewal only risks a duplicate run later; keep going
                log.warning("could not renew batch leases", exc_info=True)

    # -- one batch ------------------------------------------------------------------------------

    async def _run(self, batch_id: int) -> None:
        logcontext.batch_id.set(batch_id)  # this task's log lines (and its children's) name the batch
        try:
            # One transaction claims the batch and marks every answer to run as running, with the
            # key that pays for it; then each answer writes once, when it is finished.
            async with self.store.write() as repo:
                if not await repo.claim_batch(batch_id, self.owner, utcnow() + self.lease_until()):
                    return  # another process holds it
                _batch, message, conversation, answers = await repo.batch_rows(batch_id)
                logcontext.conversation_id.set(conversation.id)
                workspace = await repo.session.get(Workspace, conversation.workspace_id)
                questions = await repo.earlier_questions(conversation.id, message.id)
                earlier = await repo.answers_of_questions(q.id for q in questions)
                todo = [a for a in answers if a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING)]
                choices: dict[int, KeyChoice] = {}
                now = utcnow()
                for row in todo:
                    row.status, row.started_at = AnswerStatus.RUNNING.value, now
                    choices[row.id] = await self.keys.choose(repo, row) if self.keys else KeyChoice("operator")
                    row.meta = {**(row.meta or {}), "key": choices[row.id].meta}  # which key paid: on the card
                await repo.session.flush()
                started = [to_answer(row) for row in todo]
            assert workspace is not None
            platform = workspace.platform
            request = ChatRequest(
                messages=(*build_history(questions, earlier), ChatMessage("user", message.content)),
                system=SYSTEM_PROMPT, max_tokens=self.settings.max_tokens,
            )
            deadline = time.monotonic() + self.settings.deadline_seconds
            log.info("asking %d of %d models", len(todo), len(answers))
            await asyncio.gather(*(self._answer(platform, conversation, view, choices[view.id], request, deadline)
                                   for view in started))
            await self._rank(batch_id, platform, message.content)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch %s failed", batch_id)

    async def _answer(self, platform: str, conversation: Conversation, started: Answer, choice: KeyChoice,
                      request: ChatRequest, deadline: float) -> None:
        await self.bus.publish(platform, AnswerStarted(started))
        answer_id, provider_id = started.id, started.provider_id
        last_progress = 0.0

        async def on_text(text: str) -> None:
            nonlocal last_progress
            now = time.monotonic()
            if now - last_progress >= self.settings.progress_interval:
                last_progress = now
                await self.bus.publish(platform, AnswerProgress(started, text))

        try:
            if choice.error:  # an unreadable stored key fails this answer; no silent fallback
                raise KeyUnreadableError(choice.error)
            provider = self.registry.get(provider_id, choice.api_key)
        except ConsensusError as exc:  # a model that cannot be built fails alone
            outcome = CallOutcome(completion=None, error=str(exc), attempts=0, latency_ms=0)
        else:  # streamed only when someone shows the text as it comes
            streaming = on_text if self.bus.wants_progress(platform) else None
            outcome = await self.caller.call(provider, request, streaming, deadline)
        completion = outcome.completion

        async with self.store.write() as repo:
            if not await self._still_owned(repo, started.batch_id, completed=int(completion is not None)):
                log.warning("batch %s was taken over by another process; dropping this answer", started.batch_id)
                return
            row = await repo.session.get(AiResponse, answer_id)
            assert row is not None
            row.attempts, row.latency_ms, row.completed_at = outcome.attempts, outcome.latency_ms, utcnow()
            if completion is not None:
                reviewed = review_answer(completion.text)
                row.status, row.content = AnswerStatus.COMPLETED.value, reviewed.body
                row.summary, row.reasoning, row.error = reviewed.summary, reviewed.why, None
                row.tokens_in, row.tokens_out = completion.tokens_in, completion.tokens_out
                row.cost_usd = self.prices.cost(provider_id, completion.tokens_in, completion.tokens_out)
                await repo.index_text(conversation, "answer", row.id, reviewed.body)
            else:
                error = scrub(outcome.error or "The model failed.", [choice.api_key])  # never store a key
                row.status, row.error = AnswerStatus.FAILED.value, error
            await repo.session.flush()
            finished = to_answer(row)
        self.metrics.answer_finished(provider_id, finished.status, outcome.latency_ms, finished.tokens_in,
                                     finished.tokens_out, finished.cost_usd)
        event = AnswerReady(finished) if completion is not None else AnswerFailed(finished)
        await self.bus.publish(platform, event)

    async def _rank(self, batch_id: int, platform: str, question: str) -> None:
        async with self.store.read() as repo:
            answers = list(await repo.session.scalars(select(AiResponse).where(AiResponse.batch_id == batch_id)))
        live = {str(a.id): a.content or "" for a in answers
                if a.status == AnswerStatus.COMPLETED and not a.is_deleted}
        ranking = await self.ranker.rank(question, live) if live else None
        async with self.store.write() as repo:
            if not await self._still_owned(repo, batch_id):
                log.warning("batch %s was taken over by another process; not ranking it here", batch_id)
                return
            batch, message, conversation, answers = await repo.batch_rows(batch_id)
            order = sorted(ranking.scores.items(), key=lambda kv: (-kv[1].value, int(kv[0]))) if ranking else []
            ranks = {int(key): position for position, (key, _score) in enumerate(order, start=1)}
            for row in answers:
                score = ranking.scores.get(str(row.id)) if ranking else None
                if score is not None and row.id in ranks:
                    row.ranking_score, row.reasoning = score.value, score.why
                    row.score_method, row.rank = ranking.method if ranking else None, ranks[row.id]
            done = [a for a in answers if a.status == AnswerStatus.COMPLETED]
            failed = [a for a in answers if a.status == AnswerStatus.FAILED]
            batch.status = (BatchStatus.COMPLETED if not failed else
                            BatchStatus.PARTIAL if done else BatchStatus.FAILED).value
            batch.consensus = ranking.consensus if ranking else None
            batch.disagree = bool(ranking and ranking.disagree)
            batch.finished_at, batch.lease_owner, batch.lease_expires_at = utcnow(), None, None
            workspace = await repo.session.get(Workspace, conversation.workspace_id)
            assert workspace is not None
            await repo.session.flush()
            view = to_batch(batch, message, conversation, to_workspace(workspace), answers)
        log.info("question finished: %s, %d of %d answered", view.status, len(done), len(answers))
        await self.bus.publish(platform, BatchRanked(view))

    async def _still_owned(self, repo: Repository, batch_id: int, completed: int = 0) -> bool:
        """Whether this process still holds the batch's lease, counting `completed` answers in the
        same statement. The row stays locked until the transaction ends (PostgreSQL), so a replica
        claiming it meanwhile waits: no answer is stored or posted twice."""
        result: Any = await repo.session.execute(
            update(RequestBatch).where(RequestBatch.id == batch_id, RequestBatch.lease_owner == self.owner)
            .values(completed=RequestBatch.completed + completed))
        return bool(result.rowcount == 1)

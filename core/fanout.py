"""The fan-out: every model of a question runs at once, each answer is stored as soon as it
arrives (answers arriving together share one transaction), then the batch is ranked. A model
that fails becomes a failed answer, never an exception.

A batch is run under a lease. The lease is renewed while it runs, and after it is ranked until
the platform's presenter says its cards are delivered; when a process dies, the lease runs out and
`resume_orphans` (at start-up, or on another replica) adopts the batch: its cards are rebuilt from
the store (BatchResumed), stored answers are kept, the others run again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from core import logcontext, merge, stopping
from core.batch_claim import Claimed, MergeJob, claim
from core.bulk_writer import BulkWriter
from core.context import QUOTE_NOTICE, build_history
from core.domain import (
    Answer,
    AnswerStatus,
    Batch,
    BatchStatus,
    Merging,
    Platform,
)
from core.errors import ConsensusError, KeyUnreadableError
from core.events import (
    AnswerFailed,
    AnswerProgress,
    AnswerReady,
    AnswerStarted,
    BatchRanked,
    BatchResumed,
    EventBus,
    ProgressThrottle,
)
from core.keyring import KeyChoice, KeyRing
from core.keys import scrub
from core.mapping import to_batch, to_workspace
from core.metrics import Metrics, NoMetrics
from core.pricing import PriceTable
from core.providers.base import ChatMessage, ChatRequest
from core.providers.limits import OutputLimits
from core.providers.registry import ProviderRegistry
from core.providers.replies import no_answer
from core.ranking import Ranker
from core.ranking.rows import model_names, score_rows
from core.resilience import CallOutcome, ResilientCaller
from core.review import REVIEW_INSTRUCTIONS, review_answer
from core.store.finished_rows import AnswerFlags, FinishedAnswer
from core.store.leases import Closing, Lease
from core.store.repositories import Repository
from core.store.store import Store
from core.store.tables import Conversation, utcnow

log = logging.getLogger(__name__)

# Stored columns that the Answer view shows under another name.
_VIEW_NAMES = {"ranking_score": "score"}
_VIEW_FIELDS = {field.name for field in dataclasses.fields(Answer)}


def _answer_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The stored columns that the Answer view shows, under its field names."""
    fields = {_VIEW_NAMES.get(name, name): value for name, value in values.items()}
    if "status" in fields:
        fields["status"] = AnswerStatus(fields["status"])
    return {name: value for name, value in fields.items() if name in _VIEW_FIELDS}


SYSTEM_PROMPT = (
    "You are one of several AI models answering the same question for a team in a chat thread. "
    "Answer accurately and concisely; use Markdown where it helps. " + QUOTE_NOTICE + "\n\n" + REVIEW_INSTRUCTIONS
)


@dataclass(frozen=True)
class FanOutSettings:
    lease_seconds: float = 60.0
    deadline_seconds: float = 300.0  # the whole batch, all retries included
    progress_interval: float = 0.25  # streamed text is published at most this often per answer
    stop_check_seconds: float = 2.0  # how soon a stop clicked on another replica cancels a call here
    output_limits: OutputLimits = field(default_factory=OutputLimits)  # max tokens, per model


@dataclass(frozen=True, slots=True)
class _Ranked:
    """A ranked batch to close, its answers' scores, and the platform that delivers it."""

    closing: Closing
    scores: list[tuple[int, float, str | None, str, int]]
    platform: str


def process_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class FanOut:
    def __init__(
        self,
        store: Store,
        registry: ProviderRegistry,
        caller: ResilientCaller,
        ranker: Ranker,
        prices: PriceTable,
        bus: EventBus,
        settings: FanOutSettings | None = None,
        metrics: Metrics | None = None,
        keys: KeyRing | None = None,
        merger: str | None = None,
    ) -> None:
        self.store, self.registry, self.caller = store, registry, caller
        # Answers are paid by the asker's stored key, the team's, else the operator's; without a vault
        # a stored key cannot be read (its answer fails, saying so) and storing one is refused.
        self.keys = keys or KeyRing(None, registry)
        self.ranker, self.prices, self.bus = ranker, prices, bus
        self.settings = settings or FanOutSettings()
        self.metrics: Metrics = metrics or NoMetrics()
        self.owner = process_identity()
        # answers finishing together are stored together, and so are batches ranked or delivered together
        self.answer_writer = BulkWriter[FinishedAnswer, AnswerFlags | None](store, self._store_answers)
        self.ranked_writer = BulkWriter[_Ranked, Batch | None](store, self._close_ranked)
        self.delivered_writer = BulkWriter[int, None](store, self._store_delivered)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._again: set[int] = set()  # batches given new work (a retry) while running: run once more
        self._delivering: set[int] = set()  # ranked batches whose cards are still being delivered here
        self.merger = merger  # the operator's merger: CONSENSUS_MERGER, else the reviewer; None: the top answer's
        self._renewer: asyncio.Task[None] | None = None
        self.calls = stopping.RunningCalls()  # the provider calls running here, cancelled by a stop
        self._stop_watcher: asyncio.Task[None] | None = None

    # -- scheduling -----------------------------------------------------------------------------

    def start(self, batch_id: int, claimed: Claimed | None = None) -> None:
        """`claimed`: what `claim` returned in the question's transaction; None claims it first."""
        if batch_id in self._tasks:
            self._again.add(batch_id)  # its pending answers are picked up when this run ends
            return
        self._launch(batch_id, self._run(batch_id, claimed))

    def _launch(self, batch_id: int, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"batch-{batch_id}")
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _t: self._ended(batch_id))
        self._keep_renewing()

    def _keep_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_leases(), name="lease-renewer")
        if self._stop_watcher is None or self._stop_watcher.done():
            watch = stopping.watch(self.store, self.calls, lambda: bool(self._tasks), self.settings.stop_check_seconds)
            self._stop_watcher = asyncio.create_task(watch, name="stop-watcher")

    def _ended(self, batch_id: int) -> None:
        self._tasks.pop(batch_id, None)
        if batch_id in self._again:
            self._again.discard(batch_id)
            self.start(batch_id)

    @property
    def in_flight(self) -> int:
        """Batches this process is running now."""
        return len(self._tasks)

    async def wait(self, batch_id: int) -> None:
        while (task := self._tasks.get(batch_id)) is not None:  # a retry may run the batch once more
            # not shield(): awaiting a task that has just ended returns without letting the loop run
            # the callback that forgets it, and this would spin forever
            await asyncio.wait({task})

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def lease(self) -> Lease:
        """A lease for this process from now: batches it starts or renews are its own until then."""
        return Lease(self.owner, utcnow() + timedelta(seconds=self.settings.lease_seconds))

    async def resume_orphans(self) -> list[int]:
        """Adopt batches whose process died (their lease ran out): the unfinished ones run again,
        and the cards of every one are rebuilt, on the platforms this process delivers to."""
        async with self.store.write() as repo:
            orphans = await repo.leases.orphaned(self.bus.delivering())
            unfinished = {b for b in orphans if await repo.leases.claim(b, self.lease())}
            adopted = [b for b in orphans if b in unfinished or await repo.leases.adopt_delivery(b, self.lease())]
        for batch_id in adopted:
            if batch_id in self._tasks:
                continue  # already ours: its run delivers it
            log.info(
                "adopting batch %s left %s by another process",
                batch_id,
                "unfinished" if batch_id in unfinished else "undelivered",
            )
            self._launch(batch_id, self._adopt(batch_id, run=batch_id in unfinished))
        return adopted

    async def _adopt(self, batch_id: int, *, run: bool) -> None:
        """Rebuild the batch's cards first (events of its run are then shown on them); then run it."""
        logcontext.batch_id.set(batch_id)
        try:
            async with self.store.read() as repo:
                batch, message, conversation, workspace, answers = await repo.batch_with_workspace(batch_id)
                view = to_batch(batch, message, conversation, to_workspace(workspace), answers)
            if not run:
                self._delivering.add(batch_id)
            await self.bus.publish(workspace.platform, BatchResumed(view))
        except Exception:
            log.exception("batch %s could not be adopted", batch_id)
        if run:
            await self._run(batch_id, None)

    async def delivered(self, batch_id: int) -> None:
        """The batch's cards show its final state: its lease ends."""
        await self.delivered_writer.write(batch_id)
        self._delivering.discard(batch_id)

    @staticmethod
    async def _store_delivered(repo: Repository, batch_ids: Sequence[int]) -> list[None]:
        await repo.leases.delivered(batch_ids)
        return [None] * len(batch_ids)

    async def stop(self, deadline: float) -> None:
        """Let running batches finish within `deadline` seconds; hand the rest back."""
        self._again.clear()  # a retry not started yet is resumed by whoever takes the batch next
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=deadline)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for loop in (self._renewer, self._stop_watcher):
            if loop is not None:
                loop.cancel()
                await asyncio.gather(loop, return_exceptions=True)
        for writer in (self.answer_writer, self.ranked_writer, self.delivered_writer):
            await writer.idle()  # what was handed over is stored under the lease
        async with self.store.write() as repo:
            await repo.leases.release(self.owner)

    async def _renew_leases(self) -> None:
        while self._tasks or self._delivering:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                async with self.store.write() as repo:
                    await repo.leases.renew([*self._tasks, *self._delivering], self.lease())
            except Exception:  # a missed renewal only risks a duplicate run later; keep going
                log.warning("could not renew batch leases", exc_info=True)

    # -- one batch ------------------------------------------------------------------------------

    async def _run(self, batch_id: int, claimed: Claimed | None) -> None:
        logcontext.batch_id.set(batch_id)  # this task's log lines (and its children's) name the batch
        try:
            if claimed is None:
                async with self.store.write() as repo:
                    claimed = await claim(repo, batch_id, self.lease(), self.keys)
                if claimed is None:
                    return  # another process holds it
            run = claimed
            logcontext.conversation_id.set(run.conversation.id)
            request = ChatRequest(
                messages=(*build_history(run.questions, run.earlier), ChatMessage("user", run.question)),
                system=SYSTEM_PROMPT,
            )
            anonymous = build_history(run.questions, run.earlier, anonymous=True)
            deadline = time.monotonic() + self.settings.deadline_seconds
            own = [view for view in run.started if not view.is_merge]
            log.info("asking %d of %d models", len(own), run.answers)
            await asyncio.gather(
                *(
                    self._answer(run.platform, run.conversation, view, run.choices[view.id], request, deadline)
                    for view in own
                )
            )
            # A merge is written from the answers as they are now: after every model has answered
            for view in (v for v in run.started if v.is_merge):
                job = run.jobs[view.id]
                merge_request = await self._merge_request(batch_id, job, anonymous, run.question)
                await self._answer(
                    run.platform, run.conversation, view, run.choices[view.id], merge_request, deadline, job
                )
            # nothing left to run: a process died while ranking, so the ranking is done again
            await self._rank(batch_id, run.platform, run.question, rescore=bool(own) or not run.started)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch %s failed", batch_id)

    async def _await_delivery(self, repo: Repository, batch_id: int, platform: str) -> None:
        """A ranked batch stays ours until its presenter delivers it; a terminal's is delivered as
        it is printed, and one of a platform this process does not serve is left to one that does."""
        if platform in self.bus.delivering():
            self._delivering.add(batch_id)
            self._keep_renewing()
        elif platform == Platform.TERMINAL:
            await repo.leases.delivered([batch_id])
        else:
            await repo.leases.hand_back(batch_id)

    async def _merge_request(
        self, batch_id: int, job: MergeJob, history: list[ChatMessage], question: str
    ) -> ChatRequest | str:
        """The merger's request, or why there is nothing to merge (answers deleted meanwhile)."""
        async with self.store.read() as repo:
            _batch, _message, _conversation, answers = await repo.batch_rows(batch_id)
            kept = {a.id: a.content or "" for a in merge.mergeable(answers)}
        shown = [answer_id for _letter, answer_id in job.plan.order if answer_id in kept]
        if len(shown) < merge.MIN_ANSWERS:
            return f"A merge needs at least {merge.MIN_ANSWERS} kept answers; {len(shown)} are left."
        if len(shown) < len(job.plan.order):  # deleted since the merge started: never sent
            job.plan = merge.MergePlan(
                tuple((letter, i) for letter, i in job.plan.order if i in kept),
                {letter: job.plan.names[letter] for letter, i in job.plan.order if i in kept},
            )
            job.meta = {**job.meta, "merge": job.plan.stored()}
        return merge.request(history, question, job.plan, kept)

    async def _answer(
        self,
        platform: str,
        conversation: Conversation,
        started: Answer,
        choice: KeyChoice,
        request: ChatRequest | str,
        deadline: float,
        job: MergeJob | None = None,
    ) -> None:
        """`request` is what to ask, or the reason this answer cannot be asked (it fails with it);
        `job`: the answer is a merge, with these letters."""
        await self.bus.publish(platform, AnswerStarted(started))

        async def publish_text(text: str) -> None:
            await self.bus.publish(platform, AnswerProgress(started, text))

        progress = ProgressThrottle(publish_text, self.settings.progress_interval)
        try:
            if isinstance(request, str):
                raise ConsensusError(request)
            if choice.error:  # an unreadable stored key fails this answer; no silent fallback
                raise KeyUnreadableError(choice.error)
            provider = await self.registry.provider(started.provider_id, choice.api_key)
        except ConsensusError as exc:  # a model that cannot be built fails alone
            outcome = CallOutcome(completion=None, error=str(exc), attempts=0, latency_ms=0)
        else:  # streamed only when someone shows the text as it comes
            arrived = stopping.Arrived(progress)  # kept when the answer is stopped
            streaming = arrived if self.bus.wants_progress(platform) else None
            limit = self.settings.output_limits.limit(started.provider_id)
            asked = dataclasses.replace(request, max_tokens=limit)
            outcome = await self.calls.run(
                started.id, self.caller.call(provider, asked, streaming, deadline), arrived, asked
            )
        await progress.aclose()

        finished = self._finished(conversation, started, choice, outcome, job)
        flags = await self.answer_writer.write(finished)
        if flags is None:
            log.warning("batch %s was taken over by another process; dropping this answer", started.batch_id)
            return
        answer = dataclasses.replace(started, **{**_answer_fields(finished.values), **dataclasses.asdict(flags)})
        self.metrics.answer_finished(
            answer.provider_id, answer.status, outcome.latency_ms, answer.tokens_in, answer.tokens_out, answer.cost_usd
        )
        await self.bus.publish(platform, AnswerReady(answer) if finished.succeeded else AnswerFailed(answer))

    async def _store_answers(self, repo: Repository, finished: Sequence[FinishedAnswer]) -> list[AnswerFlags | None]:
        """Each stored answer's flags; None where another process took its batch over."""
        stored = await repo.finished.store_answers(self.owner, finished)
        return [stored.get(item.answer_id) for item in finished]

    def _finished(
        self,
        conversation: Conversation,
        started: Answer,
        choice: KeyChoice,
        outcome: CallOutcome,
        job: MergeJob | None = None,
    ) -> FinishedAnswer:
        """The columns to store for this outcome (the review of a completed answer included)."""
        values: dict[str, Any] = {
            "attempts": outcome.attempts,
            "latency_ms": outcome.latency_ms,
            "completed_at": utcnow(),
        }
        completion = outcome.completion
        empty = no_answer(completion) if completion is not None else None
        if completion is not None:  # an empty answer still cost its tokens, and may hold reasoning
            values.update(
                tokens_in=completion.tokens_in,
                tokens_out=completion.tokens_out,
                cost_usd=self.prices.cost(started.provider_id, completion.tokens_in, completion.tokens_out),
                ended=completion.ended.value,
                thinking=completion.thinking or None,
                replaced_characters=completion.replaced_characters,
            )
        if completion is None or empty is not None:
            error = scrub(empty or outcome.error or "The model failed.", [choice.api_key])  # never store a key
            values.update(status=AnswerStatus.FAILED.value, error=error)
        else:
            text = completion.text
            if job is not None:  # a merge: its letters named, its consensus sentence kept apart
                text, consensus = merge.split_consensus(job.plan.map_back(text))
                values["metadata"] = {**job.meta, "merge": {**job.meta["merge"], "consensus": consensus}}  # the column
            reviewed = review_answer(text)
            values.update(
                status=AnswerStatus.COMPLETED.value,
                content=reviewed.body,
                summary=reviewed.summary,
                reasoning=reviewed.why,
                error=None,
            )
        succeeded = values["status"] == AnswerStatus.COMPLETED.value
        return FinishedAnswer(
            answer_id=started.id,
            batch_id=started.batch_id,
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            succeeded=succeeded,
            values=values,
            indexed_body=values.get("content") if succeeded else None,
        )

    async def _rank(self, batch_id: int, platform: str, question: str, *, rescore: bool = True) -> None:
        """Rank the models' answers (`rescore`: some ran again) and close the batch; a run that only
        wrote a merge keeps the ranking it had. A merge is never ranked among the answers."""
        async with self.store.read() as repo:
            outcomes = [a for a in await repo.answer_outcomes(batch_id) if a.role != merge.MERGE_ROLE]
        live = {str(a.id): a.content or "" for a in outcomes if a.status == AnswerStatus.COMPLETED and not a.is_deleted}
        endings = {str(a.id): a.ended for a in outcomes}
        ranking = await self.ranker.rank(question, live, model_names(outcomes)) if live and rescore else None
        # Every answer of the batch was stored under this lease, so their statuses are final.
        done = sum(a.status == AnswerStatus.COMPLETED for a in outcomes)
        failed = sum(a.status == AnswerStatus.FAILED for a in outcomes)
        status = BatchStatus.COMPLETED if not failed else BatchStatus.PARTIAL if done else BatchStatus.FAILED
        consensus, disagree = (ranking.consensus, ranking.disagree) if ranking else (None, False)
        scores = score_rows(ranking, live, endings) if ranking else []
        closing = Closing(batch_id, status, consensus, disagree, rescore)
        view = await self.ranked_writer.write(_Ranked(closing, scores, platform))
        if view is None:
            if batch_id in self._again:
                log.info("batch %s has a retried answer to run first; ranking it after that", batch_id)
            else:
                log.warning("batch %s was taken over by another process; not ranking it here", batch_id)
            return
        log.info("question finished: %s, %d of %d answered", view.status, done, len(outcomes))
        await self.bus.publish(platform, BatchRanked(view))

    async def _close_ranked(self, repo: Repository, ranked: Sequence[_Ranked]) -> list[Batch | None]:
        """Close the ranked batches this process still holds and no retried answer waits in, with
        their scores: their views, None for the others. Batches ranked together are closed together."""
        ids = await repo.leases.finish(self.owner, [r.closing for r in ranked])
        closing = [r for r in ranked if r.closing.batch_id in ids]
        await repo.finished.store_scores([score for r in closing for score in r.scores])
        for r in closing:
            await self._await_delivery(repo, r.closing.batch_id, r.platform)
        rows = await repo.batches_with_workspace([r.closing.batch_id for r in closing])
        views: dict[int, Batch] = {}
        for r in closing:
            batch, message, conversation, workspace, answers = rows[r.closing.batch_id]
            view = views[batch.id] = to_batch(batch, message, conversation, to_workspace(workspace), answers)
            if r.closing.rescore and view.merging is Merging.AFTER_EVERY_QUESTION:
                workspace_id, lease = conversation.workspace_id, self.lease()
                if await merge.add_after_ranking(repo, batch, message, workspace_id, answers, self.merger, lease):
                    self._again.add(batch.id)  # it runs when this run of the batch ends
        return [views.get(r.closing.batch_id) for r in ranked]

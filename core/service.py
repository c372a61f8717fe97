"""ConsensusService: the only thing adapters call. Each method is one transaction; every read
and write is scoped to the caller's workspace, so an id from elsewhere is simply "not found"."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import timedelta

from core import merge
from core.admin import AdminVerbs
from core.batch_claim import Claimed, claim_stored
from core.cost import CostTotal, Estimate, money
from core.domain import (
    CUT_ENDINGS,
    MAX_QUESTION_CHARS,
    Actor,
    Answer,
    AnswerStatus,
    Batch,
    ConversationDetail,
    ConversationSummary,
    MessageRef,
    Question,
    WorkspaceRef,
)
from core.errors import (
    ConfigError,
    ConfirmationNeededError,
    DuplicateDeliveryError,
    InvalidQuestionError,
    NotFoundError,
    PermissionDeniedError,
)
from core.estimates import estimate_question
from core.events import EventBus, EventSink
from core.fanout import FanOut
from core.grouped_writes import GroupedWriter, Later
from core.history import summaries
from core.keyring import KeyChoice, KeyRing
from core.leaderboard import DEFAULT_DAYS, Leaderboard, check_days, standings
from core.mapping import to_answer, to_batch, to_conversation
from core.posted_messages import PostedMessages
from core.providers.registry import ProviderRegistry
from core.settings import MAX_MODELS, Limits, ModelSettings, SettingsBook, Spending
from core.store.question_rows import NewQuestion
from core.store.repositories import Repository
from core.store.store import Store
from core.store.tables import AiResponse, utcnow
from core.text import remove_control_characters

TITLE_CHARS = 200


def clean_question(text: str) -> str:
    cleaned = remove_control_characters(text)
    if not cleaned.strip():
        raise InvalidQuestionError("The question is empty. Type it after the command.")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise InvalidQuestionError(
            f"The question is {len(cleaned):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
            "Shorten it and ask again."
        )
    return cleaned


@dataclasses.dataclass(frozen=True)
class _Admitted:
    """A question admitted in its turn at the writer, its rows still to store."""

    question: Question
    rows: NewQuestion
    keys: dict[str, KeyChoice]  # model id -> the key that pays


@dataclasses.dataclass(frozen=True)
class BeforeAsking:
    """What a question's store needs, read before its turn at the writer."""

    settings: ModelSettings
    models: list[tuple[str, str]]  # (model id, label)
    cost: Estimate
    keys: dict[str, KeyChoice]  # model id -> the key that pays


class ConsensusService(AdminVerbs):
    def __init__(
        self,
        store: Store,
        fanout: FanOut,
        bus: EventBus,
        registry: ProviderRegistry,
        default_models: Sequence[str],
        *,
        limits: Limits | None = None,
        mergers: Sequence[str] = (),
    ) -> None:
        self.store, self.fanout, self.bus, self.registry = store, fanout, bus, registry
        self.default_models = tuple(default_models)
        self.keys: KeyRing = fanout.keys  # the keys that pay for answers are the ones people manage here
        self.writes = GroupedWriter(store)  # new questions and where their messages are, in groups on SQLite
        self.posted = PostedMessages(self.writes, self._workspace)
        # a workspace may merge with any configured model, the operator's merger and reviewer included
        self.settings_book = SettingsBook(self.default_models, limits, (*mergers, *filter(None, [fanout.merger])))

    def subscribe(self, platform: str, sink: EventSink, *, progress: bool = True, delivers: bool = False) -> None:
        """`delivers`: the sink rebuilds adopted batches and calls `batch_delivered` (see EventBus)."""
        self.bus.subscribe(platform, sink, progress=progress, delivers=delivers)

    # -- asking ---------------------------------------------------------------------------------

    async def ask(self, question: Question, estimate: Estimate | None = None) -> Batch:
        """`estimate`: this question's, when the caller has just made it (it is not made again)."""
        return await self._ask(None, question, estimate)

    async def follow_up(self, conversation_id: int, question: Question, estimate: Estimate | None = None) -> Batch:
        return await self._ask(conversation_id, question, estimate)

    async def _ask(self, conversation_id: int | None, question: Question, cost: Estimate | None) -> Batch:
        text = clean_question(question.text)
        # Its reads first, outside the write: SQLite has one writer, and every question waits for it.
        before = await self._read_before_asking(question, conversation_id, text, cost, paying=True)
        store = functools.partial(self._store_question, conversation_id, question, text, before)
        view, _claimed = await self.writes.write(store, self._started)
        return view

    async def _read_before_asking(
        self, question: Question, conversation_id: int | None, text: str, cost: Estimate | None, *, paying: bool
    ) -> BeforeAsking:
        """What asking reads: the settings, the models, the estimate (unless given), and with `paying`
        the keys that pay."""
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(question.workspace, create=False)
            if workspace_id is None:
                settings = self.settings_book.unset()
            else:
                settings = await self.settings_book.read(repo, workspace_id, question.channel)
            models = self._models(question, settings)
            ids = [m for m, _ in models]
            if cost is None:
                cost = await estimate_question(
                    repo, self.fanout.prices, workspace_id, conversation_id, ids, text, settings.confirm_above_usd
                )
            keys = await self.keys.choose_all(repo, workspace_id, question.user, ids) if paying else {}
        return BeforeAsking(settings, models, cost, keys)

    def _started(self, stored: tuple[Batch, Claimed]) -> None:
        view, claimed = stored
        self.fanout.start(view.id, claimed)
        self.fanout.metrics.question_asked(view.workspace.platform.value)

    async def _store_question(
        self, conversation_id: int | None, question: Question, text: str, before: BeforeAsking, repo: Repository
    ) -> tuple[Batch, Claimed] | Later[_Admitted, tuple[Batch, Claimed]]:
        """The question admitted (or refused, storing nothing); its conversation (when it starts one)
        and its batch, claimed to run, are stored now or with its group's (`_store_admitted`)."""
        workspace_id = await self._workspace(repo, question.workspace)
        settings = before.settings
        await self.settings_book.serialise(repo, workspace_id, settings)
        # Then, in the question's own transaction: a repeat waits for the first to commit, then
        # finds it, and is never refused by a limit the first one used up; a refusal rolls it back.
        if question.delivery and not await repo.claim_event(workspace_id, f"question:{question.delivery}"):
            raise DuplicateDeliveryError()
        await self.settings_book.admit(
            repo, workspace_id, question.user, question.channel, settings
        )  # a refusal stores nothing
        cost = dataclasses.replace(before.cost, threshold_usd=settings.confirm_above_usd)  # a given estimate's too
        if cost.needs_confirmation and not question.confirmed:
            raise ConfirmationNeededError(
                f"This question is estimated at {cost.text}, above this workspace's "
                f"{money(settings.confirm_above_usd or 0)} threshold; ask it with the command to confirm it."
            )
        conversation = None if conversation_id is None else await repo.conversation(conversation_id, workspace_id)
        admitted = _Admitted(
            question,
            NewQuestion(
                workspace_id=workspace_id,
                conversation=conversation,
                channel=question.channel,
                thread=question.thread,
                author=question.user,
                text=text,
                title=" ".join(text.split())[:TITLE_CHARS],
                # the merge setting in force when asked decides this question's merge, whatever changes
                # later; the command's delivery id: a process adopting the question finds the reply to it
                meta={
                    "merging": settings.merging.value,
                    "estimate": cost.stored(),
                    **({"delivery": question.delivery} if question.delivery else {}),
                },
                models=before.models,
                keys={model: choice.meta for model, choice in before.keys.items()},
            ),
            before.keys,
        )
        if settings.questions_per_minute is not None:  # the next question's rate counts this one: stored now
            [stored] = await self._store_admitted(repo, [admitted])
            return stored
        return Later(admitted, self._store_admitted)  # with the other questions of its group

    async def _store_admitted(self, repo: Repository, admitted: list[_Admitted]) -> list[tuple[Batch, Claimed]]:
        """The admitted questions' rows, one statement per table for all of them, their batches claimed."""
        await self.keys.mark_used(repo, [choice for one in admitted for choice in one.keys.values()])
        stored = await repo.questions.add([one.rows for one in admitted], self.fanout.lease())
        results = []
        for one, rows in zip(admitted, stored, strict=True):
            platform = one.question.workspace.platform.value
            new_conversation = one.rows.conversation is None
            claimed = await claim_stored(repo, platform, rows, one.keys, new_conversation=new_conversation)
            view = to_batch(rows.batch, rows.message, rows.conversation, one.question.workspace, rows.answers)
            results.append((view, claimed))
        return results

    async def estimate(self, question: Question, conversation_id: int | None = None) -> Estimate:
        """What the question would cost with the models it would go to, before anything is stored; its
        `needs_confirmation` says whether the asker confirms first."""
        text = clean_question(question.text)
        return (await self._read_before_asking(question, conversation_id, text, None, paying=False)).cost

    async def spending(self, workspace: WorkspaceRef) -> Spending:
        """The workspace's spend since 00:00 UTC against its daily budget."""
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            if workspace_id is None:
                return Spending(CostTotal(0.0, 0), self.settings_book.defaults.daily_budget_usd)
            settings = await self.settings_book.read(repo, workspace_id, None)
            return Spending(
                await self.settings_book.spent_today(repo, workspace_id, utcnow()), settings.daily_budget_usd
            )

    def _models(self, question: Question, settings: ModelSettings) -> list[tuple[str, str]]:
        chosen = question.models or list(settings.channel_models or settings.models) or self.default_models
        if not chosen:
            raise ConfigError("No models are configured. Set CONSENSUS_MODELS, e.g. openai/gpt-5-mini.")
        if len(chosen) > MAX_MODELS:
            raise InvalidQuestionError(f"At most {MAX_MODELS} models can answer one question.")
        # Only the labels: the SDK clients are built on the first call, after the question is stored
        return [(model_id, self.registry.label(model_id)) for model_id in dict.fromkeys(chosen)]

    async def _workspace(self, repo: Repository, ref: WorkspaceRef, *, create: bool = True) -> int:
        found = await repo.workspace_id(ref, create=create)
        if found is None:
            raise NotFoundError()
        return found

    # -- reading --------------------------------------------------------------------------------

    async def leaderboard(
        self, workspace: WorkspaceRef, *, channel: str | None = None, days: int = DEFAULT_DAYS
    ) -> Leaderboard:
        """Per model, over the last `days`: answers given, selected, ranked first, medians."""
        since = utcnow() - timedelta(days=check_days(days))
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            rows = [] if workspace_id is None else await repo.leaderboard_outcomes(workspace_id, since, channel)
        return Leaderboard(since, days, channel, standings(rows))

    async def find_conversation(self, workspace: WorkspaceRef, channel: str, thread: str) -> int | None:
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            return None if workspace_id is None else await repo.conversation_by_thread(workspace_id, channel, thread)

    async def get_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch:
        async with self.store.read() as repo:
            workspace_id = await self._workspace(repo, workspace, create=False)
            batch, message, conversation, answers = await repo.batch_rows(batch_id)
            if conversation.workspace_id != workspace_id:
                raise NotFoundError()
            return to_batch(batch, message, conversation, workspace, answers)

    async def get_answer(self, answer_id: int, workspace: WorkspaceRef) -> Answer:
        async with self.store.read() as repo:
            return to_answer(await repo.answer(answer_id, await self._workspace(repo, workspace, create=False)))

    async def get_conversation(self, conversation_id: int, workspace: WorkspaceRef) -> ConversationDetail:
        """Every question in the order asked, each with all its answers, the deleted ones marked."""
        async with self.store.read() as repo:
            conversation = await repo.conversation(
                conversation_id, await self._workspace(repo, workspace, create=False)
            )
            asked = await repo.questions_with_batches(conversation.id)
            answers = await repo.answers_of_questions(message.id for message, _batch in asked)
            return to_conversation(conversation, workspace, asked, answers)

    async def wait_for_batch(self, batch_id: int, workspace: WorkspaceRef) -> Batch:
        await self.fanout.wait(batch_id)
        return await self.get_batch(batch_id, workspace)

    async def wait_idle(self) -> None:
        await self.fanout.wait_idle()

    async def history(
        self, workspace: WorkspaceRef, query: str | None = None, limit: int = 20, offset: int = 0
    ) -> list[ConversationSummary]:
        limit = max(1, min(limit, 100))
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            if workspace_id is None:
                return []
            if query and query.strip():
                found = await repo.search(workspace_id, query, limit, max(offset, 0))
            else:
                found = [(c, "") for c in await repo.conversations_page(workspace_id, limit, max(offset, 0))]
            return await summaries(repo, found)

    # -- the four clicks ------------------------------------------------------------------------

    async def expand(self, answer_id: int, actor: Actor) -> Answer:
        return await self._set_expanded(answer_id, actor, True)

    async def collapse(self, answer_id: int, actor: Actor) -> Answer:
        return await self._set_expanded(answer_id, actor, False)

    async def _set_expanded(self, answer_id: int, actor: Actor, expanded: bool) -> Answer:
        async with self.store.write() as repo:
            row = await repo.answer(answer_id, await self._workspace(repo, actor.workspace))
            if row.is_deleted:
                raise NotFoundError("That answer was deleted.")
            row.is_expanded = expanded
            await repo.flush()
            return to_answer(row)

    async def select(self, answer_id: int, actor: Actor) -> Batch:
        async with self.store.write() as repo:
            row = await self._owned(repo, answer_id, actor)
            if row.status != AnswerStatus.COMPLETED:
                raise InvalidQuestionError("Only a finished answer can be selected.")
            await repo.unselect_all(row.message_id)
            for other in await repo.answers_of_question(row.message_id):
                other.is_expanded = False if other.id != row.id else other.is_expanded
            row.is_selected, row.selected_by = True, actor.user_id
            return await self._batch_view(repo, row.batch_id, actor.workspace)

    async def delete(self, answer_id: int, actor: Actor) -> Batch:
        async with self.store.write() as repo:
            row = await self._owned(repo, answer_id, actor)
            self._soft_delete(row)
            await repo.unindex("answer", [row.id])
            return await self._batch_view(repo, row.batch_id, actor.workspace)

    async def delete_others(self, answer_id: int, actor: Actor) -> Batch:
        async with self.store.write() as repo:
            row = await self._owned(repo, answer_id, actor)
            others = [
                a
                for a in await repo.answers_of_question(row.message_id)
                if a.id != row.id and not a.is_selected and not a.is_deleted
            ]
            for other in others:
                self._soft_delete(other)
            await repo.unindex("answer", [a.id for a in others])
            return await self._batch_view(repo, row.batch_id, actor.workspace)

    async def retry(self, answer_id: int, actor: Actor) -> Answer:
        async with self.store.write() as repo:
            row = await self._owned(repo, answer_id, actor)
            cut = row.status == AnswerStatus.COMPLETED and row.ended in CUT_ENDINGS
            if row.status != AnswerStatus.FAILED and not cut:
                raise InvalidQuestionError("Only a failed or cut-off answer can be retried.")
            # Before the answer changes: reading the batch would flush that change first, taking the
            # answer's row lock ahead of the batch's (PostgreSQL) where one flush writes both otherwise.
            await repo.leases.reopen(row.batch_id, self.fanout.lease(), uncount=cut)
            if cut:  # what arrived goes; the new answer is stored, reviewed and ranked afresh
                row.content = row.summary = row.reasoning = row.thinking = None
                row.ranking_score = row.score_method = row.rank = row.rank_reason = None
                row.is_selected, row.selected_by, row.is_expanded = False, None, False
            row.status, row.error, row.attempts = AnswerStatus.PENDING.value, None, 0
            row.ended = row.stopped_by = None  # a stopped answer asked again may finish this time
            await repo.flush()
            answer = to_answer(row)
        self.fanout.start(answer.batch_id)
        return answer

    async def merge(self, batch_id: int, actor: Actor) -> Batch:
        """Start a merged answer of the question's kept answers (the asker or an admin); it runs like
        a retried answer, in the batch's own run. The batch returned holds its pending card."""
        async with self.store.write() as repo:
            workspace_id = await self._workspace(repo, actor.workspace)
            batch, message, conversation, answers = await repo.batch_rows(batch_id)
            if conversation.workspace_id != workspace_id:
                raise NotFoundError("That question does not exist in this workspace.")
            await repo.lock_question(message.id)  # one merge at a time per question
            answers = await repo.answers_of_question(message.id)
            if not actor.is_admin and message.author != actor.user_id:
                raise PermissionDeniedError("Only the person who asked, or an admin, can do that.")
            kept = merge.check_mergeable(message, answers)
            settings = await self.settings_book.read(repo, workspace_id, None)
            await self.settings_book.admit_spending(repo, workspace_id, settings)
            merger = merge.choose_merger(settings.merger, self.fanout.merger, kept)
            await repo.add_merge(batch, merger, merge.MERGED_LABEL, self.fanout.lease())
            view = await self._batch_view(repo, batch_id, actor.workspace)
        self.fanout.start(batch_id)
        return view

    async def stop(self, batch_id: int, actor: Actor) -> Batch:
        """Stop the question's answers still being written (the asker or an admin). The stop is stored
        before any request is cancelled, so a stopped answer is never stored as finished, here or on
        another replica; what arrived is kept, and the batch is ranked with it."""
        async with self.store.write() as repo:
            workspace_id = await self._workspace(repo, actor.workspace)
            _batch, message, conversation, _answers = await repo.batch_rows(batch_id)
            if conversation.workspace_id != workspace_id:
                raise NotFoundError("That question does not exist in this workspace.")
            if not actor.is_admin and message.author != actor.user_id:
                raise PermissionDeniedError("Only the person who asked, or an admin, can do that.")
            stopped = [row.id for row in await repo.stops.stop(batch_id, actor.user_id)]
            if not stopped:
                raise InvalidQuestionError("Nothing to stop: every model has finished.")
            view = await self._batch_view(repo, batch_id, actor.workspace)
        self.fanout.calls.stop(stopped)  # where they run here; another process finds the stop in the store
        return view

    @staticmethod
    def _soft_delete(row: AiResponse) -> None:
        row.is_deleted, row.is_selected, row.selected_by, row.is_expanded = True, False, None, False

    async def _owned(self, repo: Repository, answer_id: int, actor: Actor) -> AiResponse:
        """The answer, locked for change, if the actor asked its question or is an admin."""
        row = await repo.answer(answer_id, await self._workspace(repo, actor.workspace), lock=True)
        asker = await repo.question(row.message_id)
        if not actor.is_admin and (asker is None or asker.author != actor.user_id):
            raise PermissionDeniedError("Only the person who asked, or an admin, can do that.")
        if row.is_deleted:
            raise NotFoundError("That answer was deleted.")
        return row

    async def _batch_view(self, repo: Repository, batch_id: int, workspace: WorkspaceRef) -> Batch:
        batch, message, conversation, answers = await repo.batch_rows_reloaded(batch_id)
        return to_batch(batch, message, conversation, workspace, answers)

    # -- platform bookkeeping -------------------------------------------------------------------

    async def claim_event(self, workspace: WorkspaceRef, event_id: str) -> bool:
        async with self.store.write() as repo:
            return await repo.claim_event(await self._workspace(repo, workspace), event_id)

    async def cards_posted(
        self,
        workspace: WorkspaceRef,
        refs: Sequence[tuple[str, int, MessageRef]],
        *,
        conversation_id: int | None = None,
        thread: str | None = None,
    ) -> None:
        """As a question's messages are posted: the conversation's thread (when the question started
        one) and which message shows each batch and answer, stored with those of the messages posted
        meanwhile."""
        await self.posted.remember(workspace, refs, conversation_id, thread)

    async def batch_delivered(self, batch_id: int) -> None:
        """The platform shows the ranked batch's cards in their final state: nobody needs to finish them."""
        await self.fanout.delivered(batch_id)

    async def message_for(self, workspace: WorkspaceRef, kind: str, target_id: int) -> MessageRef | None:
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            return None if workspace_id is None else await repo.messages.of(workspace_id, kind, target_id)

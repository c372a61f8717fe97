"""The values the service hands to adapters. Platform ids are opaque strings to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.cost import Estimate

MAX_QUESTION_CHARS = 8000
SUMMARY_MAX_WORDS = 50
SUMMARY_MAX_CHARS = 300
WHY_MAX_WORDS = 20
WHY_MAX_CHARS = 120


class Platform(StrEnum):
    SLACK = "slack"
    DISCORD = "discord"
    TERMINAL = "terminal"


class BatchStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"  # every model answered
    PARTIAL = "PARTIAL"  # some answered, some failed
    FAILED = "FAILED"  # none answered


class AnswerStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class Merging(StrEnum):
    """When a workspace's questions get a merged answer (Merge)."""

    OFF = "off"
    ON_REQUEST = "request"  # the Merge button; the default
    AFTER_EVERY_QUESTION = "auto"

    @classmethod
    def of(cls, stored: str | None) -> Merging:
        """A stored value; None (never set, or stored before merging existed) is on request."""
        return cls(stored) if stored is not None and stored in cls._value2member_map_ else cls.ON_REQUEST


class Ending(StrEnum):
    """How a model's answer ended. Anything but COMPLETE is said on the card."""

    COMPLETE = "complete"
    LENGTH = "length"  # the output limit (max tokens) was reached
    CONTEXT = "context"  # the conversation filled the model's context window
    CONTENT_FILTER = "content_filter"
    CLOSED = "closed"  # the stream ended without its end marker
    REFUSED = "refused"
    STOPPED = "stopped"  # a person stopped it while it was written (Stop)


ENDING_NOTES = {
    Ending.LENGTH: "cut off: the model reached its output limit",
    Ending.CONTEXT: "cut off: the conversation filled the model's context window",
    Ending.CONTENT_FILTER: "stopped by the provider's content filter",
    Ending.CLOSED: "the connection closed before the answer ended",
    Ending.REFUSED: "the model refused to answer",
}
# What arrived of a cut answer is kept, ranked as it is, and may be asked for again (Retry).
CUT_ENDINGS = frozenset({Ending.LENGTH, Ending.CONTEXT, Ending.CONTENT_FILTER, Ending.CLOSED, Ending.STOPPED})
NOTHING_KEPT = "no text was kept"  # a stopped answer of which no text had arrived (or its process died)
REPLACED_NOTE = "some characters were not valid UTF-8 and show as �"


@dataclass(frozen=True, slots=True)
class WorkspaceRef:
    """A Slack team, a Discord guild, or the terminal's local workspace."""

    platform: Platform
    external_id: str


@dataclass(frozen=True, slots=True)
class Actor:
    workspace: WorkspaceRef
    user_id: str
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Question:
    workspace: WorkspaceRef
    channel: str
    user: str
    text: str
    thread: str | None = None  # the platform's thread reference, once known
    models: tuple[str, ...] | None = None  # None: the configured models
    # The platform's id of the request that asked (Slack trigger_id, Discord interaction id): a
    # second delivery of the same request asks nothing.
    delivery: str | None = None
    confirmed: bool = False  # the asker confirmed an estimate above the workspace's threshold


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    batch_id: int
    conversation_id: int
    provider_id: str  # "openai/gpt-5-mini"
    label: str  # "OpenAI"
    status: AnswerStatus
    content: str | None = None
    summary: str | None = None
    reasoning: str | None = None  # the card's why: the model's own WHY line, or a local extract
    score: float | None = None
    score_method: str | None = None
    rank: int | None = None  # 1 = best live answer, once ranked
    rank_reason: str | None = None  # what decided the rank, apart from the why: "3 of 3 agree on 42"
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: int | None = None
    cost_usd: float | None = None  # None: price unknown, never "free"
    error: str | None = None
    is_selected: bool = False
    selected_by: str | None = None
    is_deleted: bool = False
    is_expanded: bool = False
    attempts: int = 0
    key_label: str | None = None  # which key paid: "your key ••12ab", "team ••3f9a", "operator"
    ended: str | None = None  # an Ending value; None: not finished, or stored before endings were kept
    thinking: str | None = None  # the model's own reasoning, kept apart from the answer (shown on Expand)
    replaced_characters: bool = False  # the reply was not valid UTF-8; the bad bytes show as U+FFFD
    is_merge: bool = False  # written by a chosen model from the kept answers (Merge), not a model's own
    merged_from: tuple[tuple[str, str], ...] = ()  # a merge's sources: ("A", "Anthropic"), … as shown to it
    stopped_by: str | None = None  # who stopped it while it was written (Stop); `ended` is then "stopped"

    @property
    def model(self) -> str:
        return self.provider_id.split("/", 1)[-1]

    @property
    def is_cut(self) -> bool:
        """Ended before the model finished: the text is kept and a retry is offered."""
        return self.ended in CUT_ENDINGS

    @property
    def is_stopped(self) -> bool:
        return self.ended == Ending.STOPPED

    @property
    def ending_note(self) -> str | None:
        """What the card says about how the answer ended; None for a whole, clean answer."""
        notes = [ENDING_NOTES[Ending(self.ended)]] if self.ended in ENDING_NOTES else []
        if self.is_stopped:
            notes = [f"stopped by {self.stopped_by or 'someone'}" + ("" if self.content else f"; {NOTHING_KEPT}")]
        if self.replaced_characters:
            notes.append(REPLACED_NOTE)
        return "; ".join(notes) or None

    @property
    def expanded_text(self) -> str:
        """What Expand shows: the whole answer, then the model's reasoning, labelled and quoted."""
        text = self.content or self.summary or ""
        if not self.thinking:
            return text
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in self.thinking.splitlines())
        return f"{text}\n\n---\n**The model's reasoning** (not part of the answer)\n{quoted}"


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    conversation_id: int
    message_id: int
    workspace: WorkspaceRef
    channel: str
    thread: str | None
    asker: str
    question: str
    status: BatchStatus
    answers: tuple[Answer, ...] = ()
    consensus: str | None = None  # one line: where the answers agree and differ
    disagree: bool = False
    created_at: datetime | None = None
    merging: Merging = Merging.ON_REQUEST  # the workspace's merge setting when the question was asked
    estimate: Estimate | None = None  # what it was expected to cost when asked
    delivery: str | None = None  # the platform's id of the command that asked (a Discord interaction's)

    @property
    def live_answers(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if not a.is_deleted)

    @property
    def model_answers(self) -> tuple[Answer, ...]:
        """The live answers the models gave themselves: a merge is not one of them."""
        return tuple(a for a in self.live_answers if not a.is_merge)

    @property
    def merge(self) -> Answer | None:
        """The question's live merged answer, if it has one."""
        return next((a for a in self.live_answers if a.is_merge), None)


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    """A stored conversation read back whole: each question's batch in the order asked, with every
    answer, deleted ones included (`is_deleted`); for people to read, never sent to a model."""

    id: int
    title: str
    created_by: str
    created_at: datetime
    batches: tuple[Batch, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: int
    title: str
    created_by: str
    channel: str
    thread: str | None
    created_at: datetime
    updated_at: datetime
    questions: int = 1
    models: int = 0
    selected: str | None = None  # provider id of the selected answer of the latest question
    snippet: str | None = None  # the matching text, for searches
    links: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a platform shows something: a Slack channel + ts, a Discord channel + message id."""

    channel: str
    message_id: str

"""The values the service hands to adapters. Platform ids are opaque strings to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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
    reasoning: str | None = None
    score: float | None = None
    score_method: str | None = None
    rank: int | None = None  # 1 = best live answer, once ranked
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

    @property
    def model(self) -> str:
        return self.provider_id.split("/", 1)[-1]


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

    @property
    def live_answers(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if not a.is_deleted)


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

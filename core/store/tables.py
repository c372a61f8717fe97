"""The schema: one workspace per Slack team, Discord guild or terminal; conversations are threads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = BigInteger().with_variant(Integer(), "sqlite")
PlatformId = String(64)  # a Slack/Discord id: opaque to the core


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("platform", "external_id", name="uq_workspaces_platform"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(PlatformId)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("workspace_id", "scope", "user_id", "provider", name="uq_api_keys_scope"),
        CheckConstraint("scope IN ('workspace', 'user')", name="ck_api_keys_scope"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(PlatformId, default="")  # "" for the workspace's key
    provider: Mapped[str] = mapped_column(String(64))
    encrypted_value: Mapped[bytes] = mapped_column(LargeBinary)
    hint: Mapped[str] = mapped_column(String(8))  # the last four characters, for people
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class ModelSetting(Base):
    """Which models answer in a workspace; a row with a channel overrides the workspace's row."""

    __tablename__ = "model_settings"
    __table_args__ = (UniqueConstraint("workspace_id", "channel", name="uq_model_settings_channel"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(PlatformId, default="")  # "" for the whole workspace
    models: Mapped[list[str]] = mapped_column(JSON, default=list)
    daily_budget_usd: Mapped[float | None] = mapped_column(Numeric(12, 4, asdecimal=False))
    questions_per_minute: Mapped[int | None]
    # On the workspace's row only: above this estimate (USD) the asker confirms first; None: never.
    confirm_above_usd: Mapped[float | None] = mapped_column(Numeric(12, 4, asdecimal=False))
    merging: Mapped[str | None] = mapped_column(String(16))  # core.domain.Merging; None: on request
    merger: Mapped[str | None] = mapped_column(String(200))  # the model that merges; None: the default
    # On the workspace's row only: where questions may be asked; None: every channel.
    allowed_channels: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # History pages newest first and search walks them that way: every column of the ORDER BY,
        # id included, so a page (or a deep offset) reads the index alone and never sorts.
        Index("ix_conversations_listing", "workspace_id", "archived", "updated_at", "id"),
        Index("ix_conversations_thread", "workspace_id", "channel", "thread_ref"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(PlatformId)
    thread_ref: Mapped[str | None] = mapped_column(PlatformId)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(PlatformId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    """A question asked in a conversation."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(PlatformId)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class RequestBatch(Base):
    """One question sent to several models. The lease lets another process finish it."""

    __tablename__ = "request_batches"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'RUNNING', 'COMPLETED', 'PARTIAL', 'FAILED')", name="ck_batches_status"),
        Index("ix_batches_status_lease", "status", "lease_expires_at"),
        Index("ix_batches_delivery", "delivered_at", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    expected: Mapped[int] = mapped_column(Integer)
    completed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="PENDING")
    consensus: Mapped[str | None] = mapped_column(Text)
    disagree: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    # the cards show the final state; until then the lease is kept, so a dead process's cards are finished
    delivered_at: Mapped[datetime | None]


class AiResponse(Base):
    __tablename__ = "ai_responses"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'running', 'completed', 'failed')", name="ck_responses_status"),
        CheckConstraint("ranking_score BETWEEN 0 AND 10", name="ck_responses_score"),
        Index("ix_responses_live", "message_id", "is_deleted"),
        Index("ix_responses_ranking", "batch_id", "ranking_score"),
        Index("ix_responses_model_recent", "provider_id", "id"),  # a model's latest answers: the estimate
        Index("ix_responses_created", "created_at"),  # today's answers: the spend against the daily budget
        # At most one selected answer per question, enforced by the database itself.
        Index(
            "uq_responses_one_selected",
            "message_id",
            unique=True,
            sqlite_where=text("is_selected"),
            postgresql_where=text("is_selected"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("request_batches.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(String(200))  # "openai/gpt-5-mini"
    model: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default="answer", server_default="answer")  # or "merge"
    status: Mapped[str] = mapped_column(String(16), default="pending")
    content: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(300))
    reasoning: Mapped[str | None] = mapped_column(String(120))  # the card's why: the model's WHY line
    ended: Mapped[str | None] = mapped_column(String(16))  # core.domain.Ending: how the answer ended
    thinking: Mapped[str | None] = mapped_column(Text)  # the model's own reasoning, apart from the answer
    replaced_characters: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ranking_score: Mapped[float | None] = mapped_column(Float)
    score_method: Mapped[str | None] = mapped_column(String(64))
    rank: Mapped[int | None]
    rank_reason: Mapped[str | None] = mapped_column(String(120))  # what decided the rank ("3 of 3 agree on 42")
    tokens_in: Mapped[int | None]
    tokens_out: Mapped[int | None]
    latency_ms: Mapped[int | None]
    cost_usd: Mapped[float | None] = mapped_column(Numeric(12, 6, asdecimal=False))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    is_selected: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    selected_by: Mapped[str | None] = mapped_column(PlatformId)
    stopped_by: Mapped[str | None] = mapped_column(PlatformId)  # who stopped it while it was written
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_expanded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class PlatformMessage(Base):
    """Which Slack ts or Discord message shows a question ("batch") or an answer."""

    __tablename__ = "platform_messages"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "target_id", name="uq_platform_messages"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(PlatformId)
    message_id: Mapped[str] = mapped_column(PlatformId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedEvent(Base):
    """A delivery id seen once: Slack retries and gateway replays are handled a single time."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("workspace_id", "event_id", name="uq_processed_events"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchDocument(Base):
    """Text that history search finds: questions and answers. The full-text index over it is
    dialect-specific and created by the migrations: FTS5 with prefix indexes on SQLite; on PostgreSQL
    a stored generated tsvector column (`body_tsv`) with a GIN index. Neither is modelled here."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_search_documents_source"),
        # Snippets and the newest-first search walk look documents up by conversation.
        Index("ix_search_documents_conversation", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # "question" | "answer"
    source_id: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)

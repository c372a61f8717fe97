"""Engine and sessions. SQLite (the embedded default) gets WAL, a busy timeout, foreign keys and
`BEGIN IMMEDIATE`, so that read-then-write transactions never lose updates; PostgreSQL needs none
of that and runs the same code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from core.store.sqlite_trips import OneTripDBAPI


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    if not is_sqlite(url):
        # A ping on every checkout was a round trip on every call; connections are recycled by age
        # instead, and a dropped one invalidates the pool on its first error. Transactions are a few
        # ms, so 20 connections serve hundreds of questions in flight; no overflow, because opening
        # a connection costs the event loop more than waiting for one (a burst of 200 questions on
        # PostgreSQL: ack p99 419 -> 99 ms). A CPU-starved loop waits up to a minute for one.
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        kwargs.setdefault("pool_recycle", 1800)
        kwargs.setdefault("pool_pre_ping", False)
        return create_async_engine(url, **kwargs)

    # one trip to aiosqlite's thread per statement instead of three or four (see sqlite_trips)
    engine = create_async_engine(url, connect_args={"timeout": 30}, module=OneTripDBAPI(), **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that "begin" below is the only BEGIN.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "synchronous=NORMAL", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the lock up front: in WAL a reader that later writes fails at once
        # otherwise. Readers begin deferred and never wait for writers. Sent with the first statement.
        conn.connection.dbapi_connection.begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)

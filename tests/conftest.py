"""Shared test set-up: everything stays on loopback; core tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

# The SDKs' HTTP client honours HTTP_PROXY even for loopback; the fakes must be reached directly.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

from bot.settings import Settings  # noqa: E402
from bot.wiring import Core, build_core  # noqa: E402
from core.resilience import CallPolicy  # noqa: E402
from core.service import ConsensusService  # noqa: E402
from tests.fakes import discord_payloads  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer  # noqa: E402

POSTGRES = os.environ.get("CONSENSUS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("CONSENSUS_REQUIRE_POSTGRES") == "1"  # CI: a missing server fails
TEST_MODELS = ("openai/gpt-test", "anthropic/claude-test", "ollama/llama-test")
# Quick retries, and a timeout no loaded test machine reaches: a held answer is never retried by accident.
FAST_POLICY = CallPolicy(timeout=60.0, max_retries=2, backoff_base=0.01, backoff_cap=0.05, retry_after_cap=2.0)


async def _postgres_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    """A fresh database on the local PostgreSQL server, and how to drop it."""
    try:
        admin = await asyncpg.connect(POSTGRES, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL not answering at {POSTGRES}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    name = f"consensus_test_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()

    async def drop() -> None:
        conn = await asyncpg.connect(POSTGRES)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", drop


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/consensus.db"
        return
    url, drop = await _postgres_database()
    try:
        yield url
    finally:
        await drop()


@pytest.fixture
async def llm_server() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


MakeCore = Callable[..., Awaitable[Core]]


@pytest.fixture
async def make_core(
    llm_server: FakeLLMServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeCore]:
    """Builds the real core (bot.wiring) against the fake model server; closes it at teardown."""
    monkeypatch.chdir(tmp_path)  # no developer's .env leaks in
    monkeypatch.setenv("OLLAMA_BASE_URL", f"{llm_server.url}/v1")
    built: list[Core] = []

    async def make(
        models: tuple[str, ...] = TEST_MODELS,
        database_url: str | None = None,
        policy: CallPolicy = FAST_POLICY,
        migrate: bool = True,
        **settings: Any,
    ) -> Core:
        config = Settings(
            _env_file=None,
            database_url=database_url or f"sqlite+aiosqlite:///{tmp_path}/consensus.db",
            consensus_models=",".join(models),
            openai_api_key="sk-test-openai-0000",
            openai_base_url=f"{llm_server.url}/v1",
            anthropic_api_key="sk-ant-test-0000",
            anthropic_base_url=llm_server.url,
            **settings,
        )
        core = await build_core(config, migrate=migrate, policy=policy)
        built.append(core)
        return core

    yield make
    for core in reversed(built):
        await core.service.wait_idle()
        await core.aclose()


@pytest.fixture
async def make_service(make_core: MakeCore) -> Callable[..., Awaitable[ConsensusService]]:
    async def make(**kwargs: Any) -> ConsensusService:
        return (await make_core(**kwargs)).service

    return make


# The Discord world: one server with a text channel, an asker, a bystander and an admin.
@pytest.fixture
def world() -> discord_payloads.World:
    return discord_payloads.World()


@pytest.fixture
async def fake_discord(world: discord_payloads.World) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    fake.add_guild(world.guild())
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()

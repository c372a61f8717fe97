"""Stored API keys on SQLite and PostgreSQL: which key pays, the label on the answer, rotation, an
unreadable row beside healthy ones, and a plaintext key that never shows where it should not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.domain import Actor, AnswerStatus, Platform, Question, WorkspaceRef
from core.errors import ConfigError, InvalidKeyError, PermissionDeniedError
from core.keyring import KeyChoice
from core.store.tables import ApiKey, Base
from tests.conftest import MakeCore
from tests.fakes.llm_server import FakeLLMServer, server_error, unauthorized

TEAM = WorkspaceRef(Platform.SLACK, "T1")
ASKER = Actor(TEAM, "U-asker")
OTHER = Actor(TEAM, "U-other")
ADMIN = Actor(TEAM, "U-admin", is_admin=True)
USER_KEY = "sk-proj-USERkeyAAAAAAAAAAAAAAAAAAAAAAAAAAA12ab"
TEAM_KEY = "sk-proj-TEAMkeyBBBBBBBBBBBBBBBBBBBBBBBBBBB3f9a"
ANTHROPIC_KEY = "sk-ant-api03-CCCCCCCCCCCCCCCCCCCCCCCCCCCCC7e7e"
OPERATOR_KEY = "sk-test-openai-0000"  # tests/conftest.py: the operator's key from the configuration
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
OPENAI_ONLY = ("openai/gpt-test",)


@pytest.fixture
async def core(database_url: str, make_core: MakeCore):  # type: ignore[no-untyped-def]
    return await make_core(database_url=database_url, consensus_encryption_keys=OLD)


async def ask(core, who: Actor, text: str, models: tuple[str, ...] = OPENAI_ONLY):  # type: ignore[no-untyped-def]
    batch = await core.service.ask(Question(TEAM, "C1", who.user_id, text, models=models))
    return await core.service.wait_for_batch(batch.id, TEAM)


def bearer_for(server: FakeLLMServer, text: str) -> list[str]:
    return [
        c.headers.get("authorization", "")
        for c in server.calls
        if c.path == "/v1/chat/completions" and text in c.body.decode()
    ]


async def test_lookup_order_user_then_team_then_operator(core, llm_server: FakeLLMServer) -> None:  # type: ignore[no-untyped-def]
    done = await ask(core, ASKER, "q-operator")
    assert bearer_for(llm_server, "q-operator") == [f"Bearer {OPERATOR_KEY}"]
    assert done.answers[0].key_label == "operator"

    with pytest.raises(PermissionDeniedError):
        await core.service.set_key(ASKER, "openai", TEAM_KEY, scope="workspace")
    info = await core.service.set_key(ADMIN, "openai", TEAM_KEY, scope="workspace")
    assert (info.scope, info.hint, info.user_id) == ("workspace", "••3f9a", "")
    done = await ask(core, ASKER, "q-team")
    assert bearer_for(llm_server, "q-team") == [f"Bearer {TEAM_KEY}"]
    assert done.answers[0].key_label == "team ••3f9a"

    await core.service.set_key(ASKER, "openai", USER_KEY)
    done = await ask(core, ASKER, "q-mine")
    assert bearer_for(llm_server, "q-mine") == [f"Bearer {USER_KEY}"]
    assert done.answers[0].key_label == "your key ••12ab"
    assert (await core.service.get_answer(done.answers[0].id, TEAM)).key_label == "your key ••12ab"
    await ask(core, OTHER, "q-other")  # someone else's own key is never used for you
    assert bearer_for(llm_server, "q-other") == [f"Bearer {TEAM_KEY}"]

    listed = {(k.provider, k.scope): k for k in await core.service.list_keys(ASKER)}
    assert set(listed) == {("openai", "workspace"), ("openai", "user")}
    assert all(k.readable and k.last_used_at is not None for k in listed.values())
    assert [k.scope for k in await core.service.list_keys(OTHER)] == ["workspace"]

    assert await core.service.delete_key(ASKER, "openai") is True
    assert await core.service.delete_key(ASKER, "openai") is False
    await ask(core, ASKER, "q-after-delete")
    assert bearer_for(llm_server, "q-after-delete") == [f"Bearer {TEAM_KEY}"]


async def test_follow_up_and_retry_use_the_askers_key(core, llm_server: FakeLLMServer) -> None:  # type: ignore[no-untyped-def]
    await core.service.set_key(ASKER, "openai", USER_KEY)
    llm_server.script("chat", [server_error("openai")] * 3, model="gpt-test")
    done = await ask(core, ASKER, "q-retry")
    assert done.answers[0].status == AnswerStatus.FAILED
    await core.service.retry(done.answers[0].id, ADMIN)  # an admin clicks retry: still the asker's key
    await core.service.wait_for_batch(done.id, TEAM)
    assert set(bearer_for(llm_server, "q-retry")) == {f"Bearer {USER_KEY}"}
    follow = await core.service.follow_up(
        done.conversation_id, Question(TEAM, "C1", OTHER.user_id, "q-follow", models=OPENAI_ONLY)
    )
    await core.service.wait_for_batch(follow.id, TEAM)
    assert bearer_for(llm_server, "q-follow") == [f"Bearer {OPERATOR_KEY}"]  # the follow-up's asker pays


async def test_bad_keys_are_refused_and_nothing_is_stored(core) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidKeyError, match="OpenAI") as caught:
        await core.service.set_key(ASKER, "openai", ANTHROPIC_KEY)
    assert ANTHROPIC_KEY not in caught.value.message
    with pytest.raises(InvalidKeyError, match="Keys can be set for"):
        await core.service.set_key(ASKER, "nosuch", USER_KEY)
    assert await core.service.list_keys(ASKER) == []
    assert "openai" in core.service.key_providers() and "anthropic" in core.service.key_providers()


async def test_rotation_and_an_unreadable_row_beside_healthy_ones(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    old = await make_core(database_url=database_url, consensus_encryption_keys=OLD)
    await old.service.set_key(ASKER, "openai", USER_KEY)
    await old.service.set_key(ADMIN, "openai", TEAM_KEY, scope="workspace")
    stranger = Fernet(Fernet.generate_key()).encrypt(ANTHROPIC_KEY.encode())  # no configured key opens it
    async with old.store.write() as repo:
        workspace_id = await repo.workspace_id(TEAM)
        repo.session.add(
            ApiKey(
                workspace_id=workspace_id,
                scope="user",
                user_id=ASKER.user_id,
                provider="anthropic",
                encrypted_value=stranger,
                hint="••7e7e",
            )
        )

    both = await make_core(database_url=database_url, consensus_encryption_keys=f"{NEW},{OLD}")
    report = await both.service.rotate_keys()
    assert (report.rotated, report.unreadable) == (2, 1)
    async with both.store.read() as repo:
        tokens = {(r.provider, r.scope): bytes(r.encrypted_value) for r in await repo.session.scalars(select(ApiKey))}
    assert Fernet(NEW).decrypt(tokens[("openai", "user")]).decode() == USER_KEY
    assert tokens[("anthropic", "user")] == stranger  # left as it was

    new = await make_core(database_url=database_url, consensus_encryption_keys=NEW)  # the old key dropped
    listed = {k.provider: k.readable for k in await new.service.list_keys(ASKER) if k.scope == "user"}
    assert listed == {"openai": True, "anthropic": False}
    done = await ask(new, ASKER, "q-rotated", ("openai/gpt-test", "anthropic/claude-test"))
    by_provider = {a.provider_id: a for a in done.answers}
    assert by_provider["openai/gpt-test"].status == AnswerStatus.COMPLETED
    assert bearer_for(llm_server, "q-rotated") == [f"Bearer {USER_KEY}"]
    failed = by_provider["anthropic/claude-test"]
    assert failed.status == AnswerStatus.FAILED and failed.key_label == "your key ••7e7e"
    assert failed.error == "Your Anthropic key ••7e7e could not be decrypted; set it again."
    assert not [c for c in llm_server.calls if c.path == "/v1/messages" and b"q-rotated" in c.body]
    await ask(new, OTHER, "q-other-user")  # other people's answers are untouched
    assert bearer_for(llm_server, "q-other-user") == [f"Bearer {TEAM_KEY}"]


async def test_without_an_encryption_key_storing_is_refused_clearly(  # type: ignore[no-untyped-def]
    make_core: MakeCore,
) -> None:
    core = await make_core(database_url="sqlite+aiosqlite:///:memory:")
    with pytest.raises(ConfigError, match="encryption key"):
        await core.service.set_key(ASKER, "openai", USER_KEY)


async def test_a_plaintext_key_never_shows_in_the_store_logs_requests_or_errors(  # type: ignore[no-untyped-def]
    core, llm_server: FakeLLMServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    await core.service.set_key(ASKER, "openai", USER_KEY)
    await core.service.set_key(ADMIN, "anthropic", ANTHROPIC_KEY, scope="workspace")
    await ask(core, ASKER, "q-scan", ("openai/gpt-test", "anthropic/claude-test"))
    # A provider that echoes the key in its error: the stored error and the answer must not hold it.
    llm_server.script("chat", [unauthorized("openai", f"Incorrect API key provided: {USER_KEY}")], model="gpt-test")
    failed = await ask(core, ASKER, "q-echo")
    assert failed.answers[0].status == AnswerStatus.FAILED and failed.answers[0].error
    secrets = (USER_KEY, ANTHROPIC_KEY, OPERATOR_KEY)
    errors = [a.error or "" for a in failed.answers]

    for secret in secrets:
        for call in llm_server.calls:
            assert secret.encode() not in call.body
            for name, value in call.headers.items():
                if secret in value:  # only as that provider's own auth header (both SDKs send a bearer)
                    assert (name.lower(), value) == ("authorization", f"Bearer {secret}")
                    assert (secret == ANTHROPIC_KEY) == (call.path == "/v1/messages")
        assert not any(secret in e for e in errors)
        assert secret not in caplog.text
        assert not any(secret in r.getMessage() for r in caplog.records)
    assert caplog.records  # DEBUG was really captured

    dump = await database_text(core)
    for secret in secrets:
        assert secret not in dump
    if core.store.dialect == "sqlite":
        raw = database_files(tmp_path)
        assert raw and not any(secret.encode() in raw for secret in secrets)


def database_files(folder: Path) -> bytes:
    """The raw bytes of the SQLite file and its WAL: what a stolen disk would hold."""
    return b"".join(p.read_bytes() for p in folder.rglob("consensus.db*"))


async def database_text(core) -> str:  # type: ignore[no-untyped-def]
    """Every row of every table, as text (bytes decoded loosely)."""
    parts: list[str] = []
    async with core.store.read() as repo:
        for table in Base.metadata.sorted_tables:
            for row in (await repo.session.execute(select(table))).all():
                parts.extend(v.decode("latin-1") if isinstance(v, bytes) else repr(v) for v in row)
    assert parts
    return "\n".join(parts)


def test_a_chosen_key_is_not_in_its_representation() -> None:
    choice = KeyChoice("user", "…7890", "sk-live-secret-7890", stored_id=3)
    assert "sk-live-secret" not in repr(choice) and "…7890" in repr(choice)

"""Model settings (workspace default, channel override) and the limits checked before a question is
stored: the per-user rate and the workspace's daily budget. A refusal stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.domain import Actor, Platform, Question, WorkspaceRef
from core.errors import BudgetExceededError, InvalidSettingsError, PermissionDeniedError, RateLimitedError
from core.store.tables import AiResponse, Message
from tests.conftest import TEST_MODELS, MakeCore

TEAM = WorkspaceRef(Platform.DISCORD, "G1")
USER = Actor(TEAM, "U1")
ADMIN = Actor(TEAM, "U-admin", is_admin=True)


def question(text: str, user: str = "U1", channel: str = "C1") -> Question:
    return Question(TEAM, channel, user, text)


async def stored_counts(core) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    async with core.store.read() as repo:
        messages = await repo.session.scalar(select(func.count()).select_from(Message))
        answers = await repo.session.scalar(select(func.count()).select_from(AiResponse))
    return int(messages or 0), int(answers or 0)


async def test_models_workspace_default_channel_override_and_checks(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url)
    service = core.service
    settings = await service.model_settings(TEAM)
    assert (settings.models, settings.channel_models, settings.available) == ((), None, TEST_MODELS)

    with pytest.raises(PermissionDeniedError, match="admin"):
        await service.set_models(USER, ["openai/gpt-test"])
    with pytest.raises(InvalidSettingsError, match="At most 8 models"):
        await service.set_models(ADMIN, [f"openai/m{i}" for i in range(9)])
    with pytest.raises(InvalidSettingsError, match="Not a configured model: openai/gpt-9") as caught:
        await service.set_models(ADMIN, ["openai/gpt-test", "openai/gpt-9"])
    assert "anthropic/claude-test" in caught.value.message  # it lists what can be chosen

    settings = await service.set_models(ADMIN, ["openai/gpt-test", "ollama/llama-test"])
    assert settings.models == ("openai/gpt-test", "ollama/llama-test")
    settings = await service.set_models(ADMIN, ["anthropic/claude-test"], channel="C2")
    assert settings.channel_models == ("anthropic/claude-test",) and settings.effective == ("anthropic/claude-test",)

    in_c1 = await service.ask(question("Which models here?"))
    in_c2 = await service.ask(question("And in the other channel?", channel="C2"))
    assert [a.provider_id for a in in_c1.answers] == ["openai/gpt-test", "ollama/llama-test"]
    assert [a.provider_id for a in in_c2.answers] == ["anthropic/claude-test"]

    settings = await service.set_models(ADMIN, [], channel="C2")  # drop the override
    assert settings.channel_models is None
    again = await service.ask(question("Back to the default?", channel="C2"))
    assert [a.provider_id for a in again.answers] == ["openai/gpt-test", "ollama/llama-test"]
    await service.set_models(ADMIN, [])  # back to the operator's models
    assert len((await service.ask(question("All of them?"))).answers) == len(TEST_MODELS)


async def test_rate_limit_per_user_with_its_message_and_nothing_stored(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url, consensus_questions_per_minute=2)
    service = core.service
    assert (await service.model_settings(TEAM)).questions_per_minute == 2  # the operator's default
    first = await service.ask(question("one"))
    await service.follow_up(first.conversation_id, question("two"))  # a follow-up is a question too
    before = await stored_counts(core)
    with pytest.raises(RateLimitedError) as caught:
        await service.ask(question("three"))
    message = caught.value.message
    assert message.startswith("You have asked 2 questions in the last minute; the limit is 2. Try again in ")
    assert message.endswith(" s.") and caught.value.retry_after is not None and 0 < caught.value.retry_after <= 60
    assert await stored_counts(core) == before
    assert [s.title for s in await service.history(TEAM)] == ["one"]

    await service.ask(question("someone else", user="U2"))  # the limit is per user
    with pytest.raises(PermissionDeniedError):
        await service.set_limits(USER, daily_budget_usd=None, questions_per_minute=10)
    with pytest.raises(InvalidSettingsError):
        await service.set_limits(ADMIN, daily_budget_usd=None, questions_per_minute=0)
    settings = await service.set_limits(ADMIN, daily_budget_usd=None, questions_per_minute=3)
    assert settings.questions_per_minute == 3
    await service.ask(question("three, now allowed"))


async def test_daily_budget_refuses_once_spent_and_stores_nothing(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore
) -> None:
    # $0.10 per token in and out: one answer costs well over a dollar.
    core = await make_core(
        models=("openai/gpt-test",),
        database_url=database_url,
        consensus_prices={"openai/gpt-test": (100_000.0, 100_000.0)},
    )
    service = core.service
    with pytest.raises(InvalidSettingsError):
        await service.set_limits(ADMIN, daily_budget_usd=-1, questions_per_minute=None)
    settings = await service.set_limits(ADMIN, daily_budget_usd=1.0, questions_per_minute=None)
    assert settings.daily_budget_usd == 1.0
    done = await service.wait_for_batch((await service.ask(question("How much is this?"))).id, TEAM)
    spent = done.answers[0].cost_usd
    assert spent is not None and spent > 1.0
    before = await stored_counts(core)
    with pytest.raises(BudgetExceededError) as caught:
        await service.ask(question("And this?", user="U2"))
    assert caught.value.message == (
        f"This workspace has spent ${spent:,.2f} of its $1.00 daily budget; questions resume at 00:00 UTC."
    )
    assert isinstance(caught.value, RateLimitedError)  # adapters that map RateLimitedError show it as is
    assert await stored_counts(core) == before
    other = await service.ask(Question(WorkspaceRef(Platform.DISCORD, "G2"), "C1", "U1", "Elsewhere?"))
    assert other.answers  # another workspace has its own budget
    await service.set_limits(ADMIN, daily_budget_usd=None, questions_per_minute=None)  # back to no limit
    await service.ask(question("Now?"))


async def test_allowed_channels_refuse_elsewhere_before_anything_is_stored(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore
) -> None:
    from core.errors import ChannelNotAllowedError

    core = await make_core(database_url=database_url)
    service = core.service
    with pytest.raises(PermissionDeniedError, match="admin"):
        await service.set_allowed_channels(USER, ["C1"])
    with pytest.raises(InvalidSettingsError, match="at least one channel"):
        await service.set_allowed_channels(ADMIN, ["  "])
    with pytest.raises(InvalidSettingsError, match="not a channel"):
        await service.set_allowed_channels(ADMIN, ["C1", "<!here>"])
    settings = await service.set_allowed_channels(ADMIN, ["C1", "C3", "C1"])
    assert settings.allowed_channels == ("C1", "C3")

    with pytest.raises(ChannelNotAllowedError) as refused:
        await service.ask(question("Asked in C2?", channel="C2"))
    assert refused.value.channels == ("C1", "C3")
    assert await stored_counts(core) == (0, 0)
    await service.ask(question("Asked in C3?", channel="C3"))
    assert await stored_counts(core) == (1, len(TEST_MODELS))

    settings = await service.set_allowed_channels(ADMIN, None)
    assert settings.allowed_channels is None and settings.answers_in("C2")
    await service.ask(question("Asked in C2 again?", channel="C2"))
    await service.wait_idle()

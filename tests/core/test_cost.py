"""A question's cost: the estimate before it is asked (from what will be sent and what each model of
the workspace has tended to write), the threshold above which the asker confirms first (a refusal
stores nothing), the total kept beside the estimate, and the spend of today. Both engines."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import event

from core import cost
from core.domain import Actor, Platform, Question, WorkspaceRef
from core.errors import ConfirmationNeededError, InvalidSettingsError
from core.fanout import SYSTEM_PROMPT
from tests.conftest import MakeCore
from tests.core.test_limits import stored_counts
from tests.fakes.llm_server import FakeLLMServer, Ok

TEAM = WorkspaceRef(Platform.DISCORD, "G-cost")
ADMIN = Actor(TEAM, "U-admin", is_admin=True)
GPT = "openai/gpt-test"
PRICES = {GPT: (1000.0, 2000.0)}  # per million tokens: large, so a few tokens are visible


def question(text: str, **kw: object) -> Question:
    return Question(TEAM, "C1", "U1", text, models=(GPT, "ollama/llama-test"), **kw)  # type: ignore[arg-type]


def expected(text: str, tokens_out: int, *history: str) -> float:
    tokens_in = math.ceil(len(SYSTEM_PROMPT + text + "".join(history)) / 4) + 4 * (2 + len(history))
    return (tokens_in * 1000 + tokens_out * 2000) / 1_000_000


async def test_the_estimate_learns_from_the_workspace_and_says_unknown_prices(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    core = await make_core(database_url=database_url, consensus_prices=PRICES)
    service = core.service
    first = await service.estimate(question("What is 6 x 7?"))
    assert (first.models, first.unknown) == (2, 1)  # llama-test has no price: never counted as free
    assert first.usd == pytest.approx(expected("What is 6 x 7?", cost.DEFAULT_OUTPUT_TOKENS))
    assert first.text.endswith("for 2 models (1 price unknown)") and not first.needs_confirmation

    paid = 0.0
    for words in (10, 30, 20):  # the median of the model's answers replaces the default
        llm_server.script("chat", [Ok(" ".join(["word"] * words), tokens_out=words)], model="gpt-test")
        batch = await service.ask(question("Count some words"))
        ran = await service.wait_for_batch(batch.id, TEAM)
        paid += sum(a.cost_usd or 0.0 for a in ran.answers)
    again = await service.estimate(question("What is 6 x 7?"))
    assert again.usd == pytest.approx(expected("What is 6 x 7?", 20))

    follow = await service.estimate(question("And twice that?"), batch.conversation_id)
    assert follow.usd > again.usd  # the earlier question and its kept answer are sent too

    done = await service.wait_for_batch(batch.id, TEAM)
    assert done.estimate is not None and done.estimate.models == 2  # kept with the question
    spent = cost.total(done.answers)
    assert spent is not None and spent.unknown == 1
    assert spent.known_usd == pytest.approx(next(a.cost_usd for a in done.answers if a.provider_id == GPT))
    assert spent.text.startswith("≥ $") and spent.text.endswith("(1 price unknown)")

    today = await service.spending(TEAM)
    assert today.budget_usd is None and today.spent.unknown == 3
    assert paid > 0 and today.spent.known_usd == pytest.approx(paid)


async def test_above_the_threshold_nothing_is_stored_until_confirmed(database_url: str, make_core: MakeCore) -> None:
    core = await make_core(database_url=database_url, consensus_prices=PRICES)
    service = core.service
    with pytest.raises(InvalidSettingsError, match="threshold"):
        await service.set_confirmation(ADMIN, -1)
    settings = await service.set_confirmation(ADMIN, 0.5)
    assert settings.confirm_above_usd == 0.5
    estimate = await service.estimate(question("What is 6 x 7?"))
    assert estimate.needs_confirmation and estimate.threshold_usd == 0.5

    with pytest.raises(ConfirmationNeededError, match=r"above this workspace's \$0.5000 threshold"):
        await service.ask(question("What is 6 x 7?"))
    assert await stored_counts(core) == (0, 0)

    batch = await service.ask(question("What is 6 x 7?", confirmed=True))
    assert batch.estimate is not None and batch.estimate.usd == pytest.approx(estimate.usd)
    await service.wait_for_batch(batch.id, TEAM)
    assert (await service.set_confirmation(ADMIN, None)).confirm_above_usd is None
    assert not (await service.estimate(question("What is 6 x 7?"))).needs_confirmation


async def test_each_model_s_latest_answers_are_read_in_one_statement(
    database_url: str, make_core: MakeCore, llm_server: FakeLLMServer
) -> None:
    core = await make_core(database_url=database_url)
    for words in (3, 5, 7):
        for model, tokens in (("gpt-test", words * 10), ("llama-test", words)):
            llm_server.script("chat", [Ok(" ".join(["word"] * words), tokens_out=tokens)], model=model)
        batch = await core.service.ask(question("Count some words"))
        await core.service.wait_for_batch(batch.id, TEAM)
    statements: list[str] = []
    event.listen(core.store.read_engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    async with core.store.read() as repo:
        workspace_id = await repo.workspace_id(TEAM, create=False)
        assert workspace_id is not None
        statements.clear()
        recent = await repo.settings.recent_output_tokens(workspace_id, [GPT, "ollama/llama-test", "x/none"], 2)
    assert recent == {GPT: [70, 50], "ollama/llama-test": [7, 5], "x/none": []}  # newest first, at most 2
    assert len([s for s in statements if s.startswith("SELECT")]) == 1


async def test_today_s_spend_reads_today_s_answers_by_their_index(make_core: MakeCore) -> None:
    """The budget check runs inside the write that stores each question: it must not read every
    answer the workspace ever had."""
    core = await make_core()
    await core.service.set_confirmation(ADMIN, None)  # the workspace exists
    statements: list[tuple[str, object]] = []
    engine = core.store.read_engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append((a[2], a[3])))
    await core.service.spending(TEAM)
    [(sql, params)] = [(s, p) for s, p in statements if "sum(ai_responses.cost_usd)" in s]
    async with core.store.read_engine.connect() as connection:
        plan = (await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)).all()  # type: ignore[arg-type]
    assert any("ix_responses_created" in str(step) for step in plan), plan


def test_totals_and_amounts_read_as_people_expect() -> None:
    assert cost.approx(0.04123) == "$0.041" and cost.approx(0.0035) == "$0.0035" and cost.approx(1.2) == "$1.20"
    assert cost.approx(0.00001) == "under $0.0001"
    assert cost.money(0.0123) == "$0.0123" and cost.money(12.5) == "$12.50"
    assert cost.CostTotal(0.0123, 2).text == "≥ $0.0123 (2 prices unknown)"
    assert cost.Estimate(0.0, 2, 2).text == "cost unknown for 2 models (no prices known)"
    assert cost.Estimate.of({"usd": "x"}) is None and cost.Estimate.of(None) is None
    assert cost.typical_output([]) == cost.DEFAULT_OUTPUT_TOKENS and cost.typical_output([5, 1, 9]) == 5

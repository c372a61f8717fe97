"""The leaderboard: the Wilson interval's values, the per-model arithmetic, and the stored query
(window, channel, workspace) on SQLite and PostgreSQL."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.domain import Actor, Platform, Question, WorkspaceRef
from core.errors import InvalidSettingsError
from core.leaderboard import standings, wilson_interval
from core.store.leaderboard_rows import AnswerOutcome
from core.store.tables import AiResponse, utcnow
from tests.conftest import TEST_MODELS, MakeCore

TEAM = WorkspaceRef(Platform.SLACK, "T1")


@pytest.mark.parametrize(
    ("selected", "answers", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (1, 1, 0.2065, 1.0),  # one of one is not "100%"
        (81, 263, 0.2553, 0.3662),
        (0, 0, 0.0, 1.0),  # nothing known
    ],
)
def test_wilson_interval_values(selected: int, answers: int, low: float, high: float) -> None:
    assert wilson_interval(selected, answers) == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_standings_count_share_medians_and_order() -> None:
    rows = [
        AnswerOutcome("a/one", True, 1, 1000, 0.002),
        AnswerOutcome("a/one", True, 2, 3000, None),  # an unknown cost is left out of the median
        AnswerOutcome("a/one", False, 1, 2000, 0.004),
        AnswerOutcome("b/two", True, 1, None, None),
        AnswerOutcome("c/three", False, 3, 500, 0.001),
        AnswerOutcome("c/three", False, None, 700, 0.003),
    ]
    one, two, three = standings(rows)
    assert (one.model, one.answers, one.selected, one.ranked_first) == ("a/one", 3, 2, 2)
    assert one.share == pytest.approx(2 / 3)
    assert (one.median_latency_ms, one.median_cost_usd) == (2000, pytest.approx(0.003))
    assert (one.share_low, one.share_high) == wilson_interval(2, 3)
    # 1 of 1 has the higher share but the lower supported one: it ranks below 2 of 3
    assert (two.model, two.share, two.median_latency_ms, two.median_cost_usd) == ("b/two", 1.0, None, None)
    assert (three.model, three.selected, three.share_low, three.median_latency_ms) == ("c/three", 0, 0.0, 600)
    assert standings([]) == ()


async def test_the_stored_query_by_workspace_channel_and_window(  # type: ignore[no-untyped-def]
    database_url: str, make_core: MakeCore
) -> None:
    core = await make_core(database_url=database_url)
    service = core.service
    alice = Actor(TEAM, "U1")
    batches = []
    for channel, text in (("C1", "First in C1"), ("C1", "Second in C1"), ("C2", "One in C2")):
        asked = await service.ask(Question(TEAM, channel, "U1", text))
        batches.append(await service.wait_for_batch(asked.id, TEAM))
    await service.select(batches[0].answers[0].id, alice)
    await service.select(batches[2].answers[0].id, alice)
    await service.delete(batches[1].answers[1].id, alice)  # given, not chosen: still counted
    elsewhere = await service.ask(Question(WorkspaceRef(Platform.DISCORD, "G1"), "C1", "U9", "Not this team's"))
    await service.wait_for_batch(elsewhere.id, WorkspaceRef(Platform.DISCORD, "G1"))

    board = await service.leaderboard(TEAM)
    assert board.days == 30 and board.answers == 3 * len(TEST_MODELS)
    by_model = {s.model: s for s in board.standings}
    assert set(by_model) == set(TEST_MODELS)
    answers = [a for b in batches for a in b.answers]
    for model, standing in by_model.items():
        own = [a for a in answers if a.provider_id == model]
        assert standing.answers == 3
        assert standing.ranked_first == sum(1 for a in own if a.rank == 1)
        assert standing.median_latency_ms == statistics.median(a.latency_ms for a in own if a.latency_ms is not None)
    first = batches[0].answers[0].provider_id
    assert by_model[first].selected == 1 + (batches[2].answers[0].provider_id == first)
    assert sum(s.selected for s in board.standings) == 2

    in_c2 = await service.leaderboard(TEAM, channel="C2")
    assert in_c2.answers == len(TEST_MODELS) and sum(s.selected for s in in_c2.standings) == 1

    async with core.store.write() as repo:  # the first question is 40 days old now
        old = utcnow() - timedelta(days=40)
        await repo.session.execute(
            update(AiResponse).where(AiResponse.batch_id == batches[0].id).values(created_at=old)
        )
    recent = await service.leaderboard(TEAM)
    assert recent.answers == 2 * len(TEST_MODELS)
    assert (await service.leaderboard(TEAM, days=41)).answers == 3 * len(TEST_MODELS)
    assert (await service.leaderboard(WorkspaceRef(Platform.SLACK, "T-none"))).standings == ()
    with pytest.raises(InvalidSettingsError, match="from 1 to"):
        await service.leaderboard(TEAM, days=0)

"""`consensus leaderboard`, run in this process against a database the real core filled: bars in the
terminal, one JSON object with --json, a channel filter, and a clear refusal of a bad --days."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli_base import TERMINAL
from core.domain import Actor, Question
from tests.bot.inprocess import run_cli
from tests.conftest import TEST_MODELS, MakeCore


async def leaderboard(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/consensus.db", "COLUMNS": "160"}
    return await run_cli(env, "leaderboard", *args)


async def test_bars_json_and_channel(make_core: MakeCore, tmp_path: Path) -> None:
    service = (await make_core()).service
    asked = await service.ask(Question(TERMINAL, "terminal", "alice", "Which editor?"))
    batch = await service.wait_for_batch(asked.id, TERMINAL)
    chosen = batch.answers[2]
    await service.select(chosen.id, Actor(TERMINAL, "alice"))

    code, out, err = await leaderboard(tmp_path)
    assert code == 0, err
    assert "Which answers the team selected, in this workspace, over the last 30 days" in out
    line = next(line for line in out.splitlines() if chosen.provider_id in line)
    assert "████████████" in line and "100% (21–100%)" in line
    assert all(
        "░░░░░░░░░░░░" in line and "0% (0–79%)" in line
        for line in out.splitlines()
        if "/" in line and chosen.provider_id not in line
    )

    code, out, err = await leaderboard(tmp_path, "--json", "--days", "7")
    assert code == 0, err
    board = json.loads(out)
    assert board["days"] == 7 and board["channel"] is None
    assert board["models"][0]["model"] == chosen.provider_id
    assert {m["model"] for m in board["models"]} == set(TEST_MODELS)
    top = board["models"][0]
    assert (top["answers"], top["selected"], top["share_selected"]) == (1, 1, 1.0)
    assert [round(x, 4) for x in top["share_interval_95"]] == [0.2065, 1.0]

    code, out, err = await leaderboard(tmp_path, "--channel", "elsewhere", "--json")
    assert code == 0 and json.loads(out)["models"] == []
    code, out, err = await leaderboard(tmp_path, "--channel", "elsewhere")
    assert "No answers in the last 30 days yet." in out

    code, out, err = await leaderboard(tmp_path, "--days", "0")
    assert code == 2 and "Invalid value for '--days'" in err and "Traceback" not in err

"""The leaderboard on the App Home tab: one bar per model from the team's own selections."""

from __future__ import annotations

from typing import Any

from adapters.slack import home
from tests.adapters.slack.conftest import MODELS, SlackEnv
from tests.fakes.slack_signing import event_callback


async def published_home(env: SlackEnv, event_id: str) -> list[dict[str, Any]]:
    before = len([v for v in env.api.views if v["method"] == "views.publish"])
    opened = {"type": "app_home_opened", "user": "U2", "channel": "D1", "tab": "home"}
    await env.send.event(event_callback(opened, event_id=event_id))
    await env.api.wait_until(lambda: len([v for v in env.api.views if v["method"] == "views.publish"]) > before)
    view = [v for v in env.api.views if v["method"] == "views.publish"][-1]["view"]
    blocks: list[dict[str, Any]] = view["blocks"]
    return blocks


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]


async def test_home_shows_each_models_share_selected_as_a_bar(slack_env: SlackEnv) -> None:
    env = slack_env
    empty = texts(await published_home(env, "EvHome1"))
    assert empty[0].startswith("*Leaderboard*")
    assert any("No answers in the last 30 days yet." in str(b) for b in await published_home(env, "EvHome2"))

    first = await env.ask("Which cache for sessions?")
    await env.ask("Which queue for jobs?")
    chosen = first.answers[0]
    updates = len(env.api.args("chat.update"))
    await env.click("select", chosen.id)
    await env.api.wait_until(lambda: len(env.api.args("chat.update")) > updates)
    await env.settle()

    shown = texts(await published_home(env, "EvHome3"))
    assert "over the last 30 days" in shown[0]
    rows = [t for t in shown if t.startswith("`")]
    assert len(rows) == len(MODELS)
    assert rows[0] == (
        f"`██████░░░░░░` 50% (9–91%) *{chosen.provider_id}*\n1 of 2 selected · ranked first "
        + rows[0].split("ranked first ", 1)[1]
    )
    assert all(row.startswith("`░░░░░░░░░░░░` 0% (0–66%)") for row in rows[1:])
    assert len(await published_home(env, "EvHome4")) <= 100  # Slack's limit for a Home tab
    assert home.MAX_LEADERS * 1 + home.MAX_ITEMS * 3 < 100

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


async def test_the_channels_leaderboard_privately_and_a_bad_number_of_days(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask("Which cache for sessions?")
    status, _ = await env.command("leaderboard 7")
    assert status == 200
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    reply = env.api.responses[0]
    assert reply["response_type"] == "ephemeral"
    assert "in <#C1>, over the last 7 days" in reply["blocks"][0]["text"]["text"]
    rows = [t for t in texts(reply["blocks"]) if t.startswith("`")]
    assert len(rows) == len(MODELS) and all(r.startswith("`░░░░░░░░░░░░` 0% (0–79%)") for r in rows)

    await env.command("leaderboard 0")
    await env.api.wait_until(lambda: len(env.api.responses) == 2)
    assert env.api.responses[1]["text"] == "Choose a number of days from 1 to 3,660."
    parents = len(env.parents())
    await env.command("leaderboard of football clubs?")  # a question, not the verb
    await env.api.wait_until(lambda: len(env.parents()) > parents)
    await env.settle()

"""/consensus settings (admins), and the budget and rate-limit refusals people see."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from adapters.slack import settings
from core.domain import Actor
from tests.adapters.slack.conftest import MODELS, SlackEnv
from tests.fakes.slack_signing import event_callback, state_of, thread_reply, view_submission

dumps = partial(json.dumps, ensure_ascii=False)
GPT, CLAUDE, LLAMA = MODELS


async def open_settings(env: SlackEnv, channel: str = "C1") -> dict[str, Any]:
    before = len(env.api.views)
    status, body = await env.command("settings", user="UADMIN", user_name="root", channel=channel, trigger_id="1.2.3")
    assert status == 200 and body == ""
    await env.api.wait_until(lambda: len(env.api.views) > before)
    assert env.api.views[-1]["method"] == "views.open" and env.api.views[-1]["trigger_id"] == "1.2.3"
    view: dict[str, Any] = env.api.views[-1]["view"]
    return view


async def submit(
    env: SlackEnv,
    view: dict[str, Any],
    answers: dict[str, Any],
    *,
    user: str = "UADMIN",
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload = view_submission(
        settings.SETTINGS_CALLBACK,
        values or state_of(view, answers),
        user=user,
        private_metadata=view["private_metadata"],
    )
    status, body = await env.send.action(payload)
    assert status == 200
    return json.loads(body) if body else {}


def asked_models(env: SlackEnv, question: str) -> set[str]:
    """The models whose requests carried `question`."""
    bodies = [b for endpoint in ("chat", "messages") for b in env.llm.requests(endpoint)]
    return {b["model"] for b in bodies if question in dumps(b)}


async def test_admin_sets_models_for_one_channel_and_the_limits(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_settings(env)
    models = next(b for b in view["blocks"] if b.get("block_id") == settings.MODELS_BLOCK)["element"]
    assert models["type"] == "multi_static_select" and models["max_selected_items"] == 8
    assert [o["value"] for o in models["initial_options"]] == list(MODELS)  # what answers now
    ack = await submit(
        env, view, {"models": [GPT, CLAUDE], "only_channel": ["only_channel"], "budget": "$12.50", "rate": "30"}
    )
    assert ack == {}  # saved and closed
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    note = env.api.ephemeral[0]
    assert (note["channel"], note["user"]) == ("C1", "UADMIN")
    assert note["text"] == (
        f"Saved. Questions in this channel go to: {GPT}, {CLAUDE}. Consensus answers in every channel. "
        "Limits: $12.50 a day, 30 questions per minute per person. Confirm before asking: never. "
        "Merged answers: on request (the Merge button)."
    )
    here = await env.service.model_settings(env.ws, "C1")
    assert (here.channel_models, here.models) == ((GPT, CLAUDE), ())
    assert (here.daily_budget_usd, here.questions_per_minute) == (12.5, 30)

    await env.ask("Only two models here?", models=2)  # alice, in C1
    assert asked_models(env, "Only two models here?") == {"gpt-test", "claude-test"}
    await env.command("Every model there?", channel="C2")
    await env.api.wait_until(lambda: len(env.api.channel("C2")) == 4)
    await env.settle()
    assert asked_models(env, "Every model there?") == {"gpt-test", "claude-test", "llama-test"}

    again = await open_settings(env)  # reopened: the channel's choice and the limits are shown
    state = dumps(again)
    assert '"initial_value": "12.5"' in state and '"initial_value": "30"' in state
    picked = next(b for b in again["blocks"] if b.get("block_id") == settings.MODELS_BLOCK)["element"]
    assert [o["value"] for o in picked["initial_options"]] == [GPT, CLAUDE]
    assert (
        "initial_options" in next(b for b in again["blocks"] if b.get("block_id") == settings.CHANNEL_BLOCK)["element"]
    )


async def test_refusals_are_shown_under_the_field_they_concern(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_settings(env)
    before = await env.service.model_settings(env.ws, "C1")
    base = {"models": [LLAMA], "budget": "", "rate": ""}
    cases = [
        ({"budget": "ten"}, settings.BUDGET_BLOCK, "US dollars"),  # not a number: the adapter says so
        ({"budget": "1,5"}, settings.BUDGET_BLOCK, "US dollars"),  # a decimal comma is not guessed at
        ({"rate": "1.5"}, settings.RATE_BLOCK, "whole number"),
        ({"budget": "-5"}, settings.BUDGET_BLOCK, "0 or more"),  # a number the core refuses
        ({"rate": "0"}, settings.RATE_BLOCK, "1 or more"),
        ({"confirm_above": "a lot"}, settings.CONFIRM_BLOCK, "US dollars"),
        ({"confirm_above": "-1"}, settings.CONFIRM_BLOCK, "0 or more"),
    ]
    for change, block, words in cases:
        ack = await submit(env, view, {**base, **change})
        assert ack["response_action"] == "errors" and list(ack["errors"]) == [block], (change, ack)
        assert words in ack["errors"][block]
    forged = state_of(view, base)
    forged[settings.MODELS_BLOCK][settings.MODELS]["selected_options"].append(
        {"value": "openai/not-configured", "text": {"type": "plain_text", "text": "x"}}
    )
    ack = await submit(env, view, {}, values=forged)
    assert list(ack["errors"]) == [settings.MODELS_BLOCK]
    assert "Not a configured model: openai/not-configured" in ack["errors"][settings.MODELS_BLOCK]
    assert await env.service.model_settings(env.ws, "C1") == before
    assert env.api.ephemeral == []


async def test_workspace_choice_and_dropping_a_channel_override(slack_env: SlackEnv) -> None:
    env = slack_env
    admin = Actor(env.ws, "UADMIN", is_admin=True)
    await env.service.set_models(admin, [LLAMA], "C1")
    view = await open_settings(env)
    ack = await submit(env, view, {"models": [GPT], "only_channel": [], "budget": "1,500", "rate": ""})
    assert ack == {}
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    assert env.api.ephemeral[0]["text"] == (
        f"Saved. Questions in this workspace go to: {GPT}. Consensus answers in every channel. "
        "Limits: $1,500.00 a day, no limit of questions per minute. Confirm before asking: never. "
        "Merged answers: on request (the Merge button). "
        f"This channel keeps its own choice ({LLAMA}): to drop it, tick “Only in this channel” "
        "and choose no models."
    )
    assert (await env.service.model_settings(env.ws, "C2")).effective == (GPT,)
    ack = await submit(
        env, await open_settings(env), {"models": [], "only_channel": ["only_channel"], "budget": "", "rate": ""}
    )
    assert ack == {}
    here = await env.service.model_settings(env.ws, "C1")
    assert (here.channel_models, here.effective, here.daily_budget_usd) == (None, (GPT,), None)


async def test_settings_are_for_admins_only(slack_env: SlackEnv) -> None:
    env = slack_env
    status, _ = await env.command("settings")  # alice
    assert status == 200
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    reply = env.api.responses[0]
    assert reply["response_type"] == "ephemeral" and "Only workspace admins" in reply["text"]
    assert f"go to: {', '.join(MODELS)}" in reply["text"]
    assert env.api.views == []
    view = await open_settings(env)  # an admin's modal, submitted by alice (forged, or her rights gone)
    ack = await submit(env, view, {"models": [GPT], "budget": "", "rate": ""}, user="U1")
    assert ack["response_action"] == "errors" and "Only an admin" in ack["errors"][settings.MODELS_BLOCK]
    assert (await env.service.model_settings(env.ws, "C1")).effective == MODELS


async def test_budget_refusal_reaches_the_asker_privately_and_costs_nothing(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.service.set_limits(Actor(env.ws, "UADMIN", is_admin=True), daily_budget_usd=0, questions_per_minute=None)
    status, _ = await env.command("Is this free?")
    assert status == 200
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    reply = env.api.responses[0]
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == ("This workspace has spent $0.00 of its $0.00 daily budget; questions resume at 00:00 UTC.")
    assert env.api.args("chat.postMessage") == [] and env.llm.calls == []
    assert await env.service.history(env.ws) == []


async def test_rate_limit_refusal_for_a_question_and_a_follow_up(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.service.set_limits(Actor(env.ws, "UADMIN", is_admin=True), daily_budget_usd=None, questions_per_minute=1)
    await env.ask("First question")
    calls = len(env.llm.calls)
    await env.command("Second question")
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    assert env.api.responses[0]["response_type"] == "ephemeral"
    assert "the limit is 1. Try again in" in env.api.responses[0]["text"]
    reply = thread_reply("And a follow-up?", thread_ts=env.thread_ts(), ts="1700000500.000001")
    await env.send.event(event_callback(reply, event_id="EvLimit"))
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    note = env.api.ephemeral[0]
    assert (note["user"], note["thread_ts"]) == ("U1", env.thread_ts())
    assert "the limit is 1" in note["text"]
    await env.settle()
    assert len(env.llm.calls) == calls and len(env.parents()) == 1


async def test_admin_sets_when_answers_are_merged_and_by_which_model(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_settings(env)
    merging = next(b for b in view["blocks"] if b.get("block_id") == settings.MERGING_BLOCK)["element"]
    assert merging["initial_option"]["value"] == "request"
    assert [o["value"] for o in merging["options"]] == ["off", "request", "auto"]
    merger = next(b for b in view["blocks"] if b.get("block_id") == settings.MERGER_BLOCK)["element"]
    assert [o["value"] for o in merger["options"]] == [settings.DEFAULT_MERGER, *MODELS]
    ack = await submit(env, view, {"merging": "auto", "merger": CLAUDE})
    assert ack == {}
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    assert env.api.ephemeral[0]["text"].endswith(f"Merged answers: after every question, written by {CLAUDE}.")
    stored = await env.service.model_settings(env.ws)
    assert (stored.merging.value, stored.merger) == ("auto", CLAUDE)

    env.llm.answers["claude-test"] = "Answers A and B agree.\nCONSENSUS: They agree.\nTL;DR: Merged."
    batch = await env.ask("What is 2+2?")
    await env.api.wait_until(lambda: "Merged answer" in env.screen())
    await env.settle()
    stored_batch = await env.service.get_batch(batch.id, env.ws)
    assert stored_batch.merge is not None and stored_batch.merge.provider_id == CLAUDE
    assert "consensus:merge:" not in dumps(env.parents()[0].blocks)  # nothing to click: it merged by itself

    view = await open_settings(env)  # the form shows what is set
    merging = next(b for b in view["blocks"] if b.get("block_id") == settings.MERGING_BLOCK)["element"]
    assert merging["initial_option"]["value"] == "auto"
    forged = state_of(view, {"merging": "off"})
    forged[settings.MERGER_BLOCK] = {"merger": {"type": "static_select", "selected_option": {"value": "openai/nope"}}}
    ack = await submit(env, view, {}, values=forged)
    assert ack["response_action"] == "errors" and "Not a configured model" in ack["errors"][settings.MERGER_BLOCK]
    assert (await env.service.model_settings(env.ws)).merging.value == "auto"  # refused: nothing changed


async def test_admin_limits_the_channels_and_elsewhere_the_asker_is_told_privately(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_settings(env)
    allowed = next(b for b in view["blocks"] if b.get("block_id") == settings.ALLOWED_BLOCK)["element"]
    assert allowed["type"] == "multi_conversations_select" and "initial_conversations" not in allowed
    ack = await submit(env, view, {"models": [], "allowed": ["C1", "C7"], "budget": "", "rate": ""})
    assert ack == {}
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    assert "Consensus answers only in <#C1>, <#C7>." in env.api.ephemeral[0]["text"]
    again = await open_settings(env)
    shown = next(b for b in again["blocks"] if b.get("block_id") == settings.ALLOWED_BLOCK)["element"]
    assert shown["initial_conversations"] == ["C1", "C7"]

    status, _ = await env.command("Asked in the wrong channel?", channel="C2")
    assert status == 200
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    reply = env.api.responses[0]
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == "Consensus does not answer in this channel. Ask in <#C1>, <#C7>."
    assert reply["blocks"][0]["text"]["text"] == reply["text"]  # links, not escaped text
    assert env.api.args("chat.postMessage") == [] and env.llm.calls == []  # nothing posted, nothing spent
    assert await env.service.history(env.ws) == []  # nothing stored

    await env.ask("And in an allowed one?")  # alice, in C1
    assert len(await env.service.history(env.ws)) == 1

    ack = await submit(env, again, {"models": [], "allowed": [], "budget": "", "rate": ""})
    assert ack == {}
    assert (await env.service.model_settings(env.ws, "C2")).allowed_channels is None  # every channel again


async def test_only_an_admin_limits_the_channels_and_a_forged_channel_is_refused(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_settings(env)
    ack = await submit(env, view, {"models": [], "allowed": ["C1"], "budget": "", "rate": ""}, user="U1")
    assert ack["response_action"] == "errors" and "Only an admin" in next(iter(ack["errors"].values()))
    ack = await submit(env, view, {"models": [], "allowed": ["C1", "<!here>"], "budget": "", "rate": ""})
    assert list(ack["errors"]) == [settings.ALLOWED_BLOCK]
    assert "not a channel" in ack["errors"][settings.ALLOWED_BLOCK]
    assert (await env.service.model_settings(env.ws)).allowed_channels is None

"""API keys through Slack: the modal, the list, deleting, and the key never reaching Slack.

Every submission is built from the modal the fake recorded (`state_of`), so option values are the
ones Slack would send back; forged ones are built by hand.
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from typing import Any

import pytest

from adapters.slack import keys
from core.domain import Actor
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.llm_server import Ok
from tests.fakes.slack_signing import block_action, state_of, view_submission

dumps = partial(json.dumps, ensure_ascii=False)
OPENAI_KEY = "sk-proj-Zq7Wx2Vb9Nm4Kl1Jh6Gf3Ds8Pa5Yt0Re" + "3f9a"
ANTHROPIC_KEY = "sk-ant-api03-Hq2Lw8Xc5Vb1Nm7Kj4Gf9Dp" + "12ab"


async def open_keys(env: SlackEnv, user: str = "U1", channel: str = "C1") -> dict[str, Any]:
    """`/consensus keys` → the view passed to views.open (with the command's trigger_id)."""
    before = len(env.api.views)
    status, body = await env.command("keys", user=user, channel=channel, trigger_id="1.2.3")
    assert status == 200 and body == ""  # acked at once, nothing said
    await env.api.wait_until(lambda: len(env.api.views) > before)
    opened = env.api.views[-1]
    assert opened["method"] == "views.open" and opened["trigger_id"] == "1.2.3"
    view: dict[str, Any] = opened["view"]
    return view


async def submit(
    env: SlackEnv,
    view: dict[str, Any],
    answers: dict[str, Any],
    *,
    user: str = "U1",
    values: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    payload = view_submission(
        keys.KEYS_CALLBACK, values or state_of(view, answers), user=user, private_metadata=view["private_metadata"]
    )
    status, body = await env.send.action(payload)
    return status, json.loads(body) if body else {}


def everything_slack_got(env: SlackEnv) -> str:
    """Every byte any call to the fake Slack API carried (paths, bodies), and the response_url posts."""
    raw = [f"{c.path} {c.body.decode('utf-8', 'replace')}" for c in env.api.calls]
    return "\n".join(raw) + dumps(env.api.received) + dumps(env.api.responses)


async def test_keys_modal_stores_the_key_checks_it_after_the_ack_and_never_shows_it(
    slack_env: SlackEnv, caplog: pytest.LogCaptureFixture
) -> None:
    env = slack_env
    caplog.set_level(logging.DEBUG)
    view = await open_keys(env)
    shown = dumps(view)
    for provider in ("openai", "anthropic"):
        assert f'"value": "{provider}"' in shown
    key_input = next(b for b in view["blocks"] if b.get("block_id") == keys.KEY_BLOCK)["element"]
    assert key_input["type"] == "plain_text_input" and "initial_value" not in key_input
    scope = next(b for b in view["blocks"] if b.get("block_id") == keys.SCOPE_BLOCK)["element"]
    assert [o["value"] for o in scope["options"]] == ["user"]  # alice is not an admin
    assert json.loads(view["private_metadata"]) == {"channel": "C1"}

    gate = asyncio.Event()  # the live check waits here: the modal must close without it
    env.llm.script("chat", [Ok(text="pong", gate=gate)], model="gpt-test")
    status, ack = await submit(
        env, view, {"provider": "openai", "key": f"  {OPENAI_KEY}\n", "scope": "user", "check": ["check"]}
    )
    assert status == 200 and ack == {}  # closed
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    saved = env.api.ephemeral[0]
    assert (saved["channel"], saved["user"]) == ("C1", "U1")
    assert saved["text"] == "Saved the OpenAI key ••3f9a for just you."
    assert not gate.is_set()
    gate.set()
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 2)
    assert env.api.ephemeral[1]["text"] == "OpenAI accepted the key ••3f9a."
    check = env.llm.named("POST /v1/chat/completions")[-1]
    assert check.headers["Authorization"] == f"Bearer {OPENAI_KEY}"  # the provider's own header: fine

    [info] = await env.service.list_keys(Actor(env.ws, "U1"))
    assert (info.provider, info.scope, info.hint, info.user_id) == ("openai", "user", "••3f9a", "U1")
    status, _ = await env.command("keys list")
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    listed = dumps(env.api.responses[0])
    assert "••3f9a" in listed and "just you" in listed and "not used yet" in listed

    assert OPENAI_KEY not in everything_slack_got(env)
    assert OPENAI_KEY not in dumps(env.api.views) + dumps(env.api.ephemeral)
    assert OPENAI_KEY[8:-4] not in caplog.text  # not even most of it, at DEBUG


async def test_a_bad_format_stays_in_the_modal_and_nothing_is_stored(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_keys(env)
    wrong = "sk-ant-api03-thisisananthropickeyinthewrongplace"
    for pasted, expected in (
        (wrong, "looks like it is for Anthropic, not OpenAI"),
        ("hunter2", "does not look like an API key for OpenAI"),
    ):
        status, ack = await submit(env, view, {"provider": "openai", "key": pasted, "scope": "user"})
        assert status == 200 and ack["response_action"] == "errors"
        assert list(ack["errors"]) == [keys.KEY_BLOCK] and expected in ack["errors"][keys.KEY_BLOCK]
        assert pasted not in dumps(ack)
        assert pasted not in everything_slack_got(env)
    assert await env.service.list_keys(Actor(env.ws, "U1")) == []
    assert env.api.ephemeral == []


async def test_only_admins_may_set_the_workspace_key(slack_env: SlackEnv) -> None:
    env = slack_env
    view = await open_keys(env)
    forged = state_of(view, {"provider": "openai", "key": OPENAI_KEY, "scope": "user"})
    forged[keys.SCOPE_BLOCK][keys.SCOPE]["selected_option"] = {
        "value": "workspace",
        "text": {"type": "plain_text", "text": "x"},
    }
    status, ack = await submit(env, view, {}, values=forged)
    assert status == 200 and ack["response_action"] == "errors"
    assert list(ack["errors"]) == [keys.SCOPE_BLOCK] and "Only an admin" in ack["errors"][keys.SCOPE_BLOCK]
    assert await env.service.list_keys(Actor(env.ws, "U1")) == []

    admin_view = await open_keys(env, user="UADMIN")
    status, ack = await submit(
        env, admin_view, {"provider": "anthropic", "key": ANTHROPIC_KEY, "scope": "workspace"}, user="UADMIN"
    )
    assert status == 200 and ack == {}
    await env.api.wait_until(lambda: len(env.api.ephemeral) == 1)
    assert env.api.ephemeral[0]["text"] == "Saved the Anthropic key ••12ab for the whole workspace."
    [info] = await env.service.list_keys(Actor(env.ws, "U1"))  # everyone sees the team's key
    assert (info.scope, info.hint, info.user_id) == ("workspace", "••12ab", "")
    assert ANTHROPIC_KEY not in everything_slack_got(env)


async def test_list_offers_delete_where_allowed_and_deleting_updates_the_list(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.service.set_key(Actor(env.ws, "U1"), "openai", OPENAI_KEY, "user")
    await env.service.set_key(Actor(env.ws, "UADMIN", is_admin=True), "anthropic", ANTHROPIC_KEY, "workspace")
    await env.command("keys list")
    await env.api.wait_until(lambda: len(env.api.responses) == 1)
    listed = env.api.responses[0]
    assert listed["response_type"] == "ephemeral"
    buttons = [b["accessory"]["action_id"] for b in listed["blocks"] if "accessory" in b]
    assert buttons == ["consensus:key_delete:user:openai"]  # the team's key is the admins' to delete
    assert "••12ab" in dumps(listed) and "the whole workspace" in dumps(listed)

    click = block_action("consensus:key_delete:user:openai", response_url=env.api.response_url("r2"))
    status, _ = await env.send.action(click)
    assert status == 200
    await env.api.wait_until(lambda: len(env.api.responses) == 2)
    assert env.api.responses[1]["replace_original"] is True
    assert "••3f9a" not in dumps(env.api.responses[1]) and "••12ab" in dumps(env.api.responses[1])
    assert [k.provider for k in await env.service.list_keys(Actor(env.ws, "U1"))] == ["anthropic"]

    await env.command("keys delete anthropic team")  # alice may not
    await env.api.wait_until(lambda: len(env.api.responses) == 3)
    assert "Only an admin" in env.api.responses[2]["text"]
    await env.command("keys delete anthropic team", user="UADMIN", user_name="root")
    await env.api.wait_until(lambda: len(env.api.responses) == 4)
    assert env.api.responses[3]["text"] == "Deleted the workspace's Anthropic key."
    assert await env.service.list_keys(Actor(env.ws, "U1")) == []
    assert OPENAI_KEY not in everything_slack_got(env) and ANTHROPIC_KEY not in everything_slack_got(env)


async def test_a_question_about_keys_is_still_a_question(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask("keys to a good API design?")
    assert env.api.views == []
    assert "keys to a good API design?" in env.screen()


async def test_cards_show_which_key_paid(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.service.set_key(Actor(env.ws, "UADMIN", is_admin=True), "openai", OPENAI_KEY, "workspace")
    await env.service.set_key(Actor(env.ws, "U1"), "anthropic", ANTHROPIC_KEY, "user")
    batch = await env.ask()
    paid = {a.model: dumps((await env.card_of(a.id)).blocks) for a in batch.answers}
    assert "key: team ••3f9a" in paid["gpt-test"]
    assert "key: your key ••12ab" in paid["claude-test"]
    assert "key: operator" in paid["llama-test"]
    sent = [c.headers.get("Authorization") for c in env.llm.calls if c.json().get("model") == "gpt-test"]
    assert sent == [f"Bearer {OPENAI_KEY}"]
    assert OPENAI_KEY not in everything_slack_got(env) and ANTHROPIC_KEY not in everything_slack_got(env)

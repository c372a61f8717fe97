"""Follow-ups in the thread, duplicate deliveries, ignored messages, signatures, App Home."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import Any

from adapters.slack import home
from tests.adapters.slack.conftest import SlackEnv
from tests.fakes.slack_api import WORKSPACE_URL
from tests.fakes.slack_signing import (
    block_action,
    encode_form,
    event_callback,
    slash_command,
    thread_reply,
    view_submission,
)

dumps = partial(json.dumps, ensure_ascii=False)
ANSWERS = {"gpt-test": "GPT says four.", "claude-test": "Claude says 4.", "llama-test": "Llama says five."}


def asked(env: SlackEnv, text: str) -> list[str]:
    """The request bodies (as text) the models received for a question."""
    bodies = [dumps(b) for endpoint in ("chat", "messages") for b in env.llm.requests(endpoint)]
    return [b for b in bodies if text in b]


async def test_follow_up_sends_exactly_the_selected_answer_and_never_a_deleted_one(slack_env: SlackEnv) -> None:
    env = slack_env
    env.llm.answers.update(ANSWERS)
    batch = await env.ask("What is 2+2?")
    by_model = {a.model: a for a in batch.answers}
    await env.click("select", by_model["gpt-test"].id)
    await env.click("delete", by_model["llama-test"].id)
    await env.api.wait_until(lambda: len(env.api.args("chat.delete")) == 1)
    await env.settle()
    reply = thread_reply("And times three?", thread_ts=env.thread_ts(), ts="1700000100.000001")
    status, _ = await env.send.event(event_callback(reply, event_id="Ev1"))
    assert status == 200
    await env.api.wait_until(lambda: len(env.cards()) == 2 + 1 + 3)  # kept cards, follow-up header, new cards
    await env.settle()
    bodies = asked(env, "And times three?")
    assert len(bodies) == 3
    for body in bodies:
        assert "GPT says four." in body
        assert "Llama says five." not in body and "Claude says 4." not in body
    assert "Follow-up" in env.screen() and "asked by alice" in env.screen()
    follow = [t for t in env.bot.renderer.threads.values() if t.follow_up]
    assert len(follow) == 1 and follow[0].batch.thread == env.thread_ts()
    assert "3/3 answered" in env.screen()


async def test_duplicate_deliveries_start_one_follow_up(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask()
    reply = thread_reply("<@UBOT> and now?", thread_ts=env.thread_ts(), ts="1700000200.000001")
    first = event_callback(reply, event_id="EvDup")
    await env.send.event(first)
    await env.send.event(first, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    mention = event_callback({**reply, "type": "app_mention"}, event_id="EvMention")  # same message, again
    await env.send.event(mention)
    await env.api.wait_until(lambda: len(env.cards()) == 3 + 1 + 3)
    await env.settle()
    assert len(asked(env, "and now?")) == 3
    assert all("<@UBOT>" not in b for b in asked(env, "and now?"))
    assert len(env.cards()) == 7


async def test_bot_messages_edits_and_foreign_threads_are_ignored(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask()
    parent = env.thread_ts()
    ignored: list[dict[str, Any]] = [
        thread_reply("from a bot", thread_ts=parent, ts="1700000300.000001", bot_id="B9"),
        thread_reply("edited", thread_ts=parent, ts="1700000300.000002", subtype="message_changed"),
        thread_reply("not in a thread", thread_ts="1700000300.000003", ts="1700000300.000003"),
        thread_reply("someone else's thread", thread_ts="1600000000.000001", ts="1700000300.000004"),
        {"type": "message", "channel": "C1", "text": "top level", "ts": "1700000300.000005", "user": "U1"},
    ]
    for index, event in enumerate(ignored):
        status, _ = await env.send.event(event_callback(event, event_id=f"EvIgnored{index}"))
        assert status == 200
    own = thread_reply("our own card", thread_ts=parent, ts="1700000300.000006", user="UBOT")
    await env.send.event(event_callback(own, event_id="EvOwn"))
    await env.settle()
    posts = len(env.api.args("chat.postMessage"))
    assert posts == 4 and len(env.llm.calls) == 3


async def test_bad_signature_and_stale_timestamp_are_refused(slack_env: SlackEnv) -> None:
    env = slack_env
    assert [c.name for c in env.api.calls] == ["auth.test"]  # the start-up token check, nothing else
    body = encode_form(slash_command("hello <!channel>", response_url=env.api.response_url()))
    assert (await env.send.send(body, secret="wrong-secret"))[0] == 401
    assert (await env.send.send(body, timestamp=int(time.time()) - 301))[0] == 401
    mention = event_callback(thread_reply("x", thread_ts="1.1", ts="1.2"), event_id="EvBad")
    assert (await env.send.event(mention, secret="wrong-secret"))[0] == 401
    assert [c.name for c in env.api.calls] == ["auth.test"] and env.llm.calls == []


async def test_app_home_lists_conversations_and_search_finds_them(slack_env: SlackEnv) -> None:
    env = slack_env
    await env.ask("Which queue for background jobs?")
    opened = {"type": "app_home_opened", "user": "U2", "channel": "D1", "tab": "home"}
    await env.send.event(event_callback(opened, event_id="EvHome"))
    await env.api.wait_until(lambda: any(v["method"] == "views.publish" for v in env.api.views))
    published = next(v for v in env.api.views if v["method"] == "views.publish")
    shown = dumps(published["view"])
    assert published["user_id"] == "U2"
    assert "Which queue for background jobs?" in shown and "by alice" in shown and "3 models" in shown
    assert f"<{WORKSPACE_URL}archives/C1/p{env.thread_ts().replace('.', '')}|open thread>" in shown

    click = block_action(home.OPEN_SEARCH, response_url=env.api.response_url(), user="U2", container_type="view")
    assert (await env.send.action(click))[0] == 200
    await env.api.wait_until(lambda: any(v["method"] == "views.open" for v in env.api.views))

    values = {home.SEARCH_BLOCK: {home.SEARCH_INPUT: {"type": "plain_text_input", "value": "queue"}}}
    status, body = await env.send.action(view_submission(home.SEARCH_CALLBACK, values, user="U2"))
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "update"
    assert "Which queue for background jobs?" in dumps(answer["view"])
    values[home.SEARCH_BLOCK][home.SEARCH_INPUT]["value"] = "zebra"
    _, body = await env.send.action(view_submission(home.SEARCH_CALLBACK, values, user="U2"))
    assert "No conversations matching" in dumps(json.loads(body)["view"])


async def test_health_and_unknown_paths(slack_env: SlackEnv) -> None:
    url = slack_env.send.url.rsplit("/", 1)[0]
    async with slack_env.send.session.get(f"{url}/health") as response:
        assert response.status == 200 and (await response.json())["mode"] == "http"
    async with slack_env.send.session.post(f"{url}/other", data=b"x") as response:
        assert response.status == 404

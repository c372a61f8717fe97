"""Hostile questions and answers through the real Slack adapter (Bolt over HTTP, the fake Web API,
the real core, fake models): no unescaped control sequence reaches Slack in any text or block of
any call, and nothing crashes. One app serves every example of the test."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.slack.handlers import HELP_WORDS
from core.domain import AnswerStatus
from tests.adapters.slack.conftest import MODELS, SlackEnv
from tests.fakes.slack_signing import event_callback
from tests.invisible import SAMPLES, invisible

EXAMPLES = 25
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<@UADMIN>",
    "<#C1>",
    "<#C1|general>",
    "<!subteam^S1>",
    "<!subteam^S1|@team>",
    "<https://evil.example|innocent>",
    "<mailto:a@b.c|me>",
    "<!date^1700000000^{date}|today>",
    "&",
    "&amp;",
    "&lt;!channel&gt;",
    "<",
    ">",
    "<<!here>>",
    "*bold*",
    "_it_",
    "~s~",
    "`<!here>`",
    "```\n<!channel>\n```",
    "> quote",
    "[<!here>](https://x.example)",
    "![img](https://x.example/i.png)",
    "# Heading <@U1>",
    "- item",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\r\n",
    "\t",
    "\u200b",
    "@channel",
    "@here",
    "\U0001f600",
    "ﷺ",
    "𝕏",
    *SAMPLES,  # invisible characters
    "\x85- item",  # list items whose indentation is a control character
    "\r- item",
    "\x1c\x1d\x1e\x1f* item",
]
_chars = st.characters(codec="utf-8")  # any character but lone surrogates
_piece = st.one_of(st.sampled_from(HOSTILE), st.text(_chars, max_size=30))
hostile_text = st.one_of(
    st.lists(_piece, min_size=1, max_size=14).map("".join), st.text(_chars, min_size=1, max_size=3500)
)  # long Unicode, split into sections

# The only `<…>` sequences we write ourselves: dates in history lists, links to our own threads and cards.
_OURS = re.compile(
    r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>]*>"
    r"|<https://consensus-test\.slack\.com/archives/C\d+/p\d+\|open thread>"
    r"|<https://consensus-test\.slack\.com/archives/C\d+/p\d+\?thread_ts=\d+\.\d+&amp;cid=C\d+\|[^<>]*>"
    r"|(?m:^> )"
)  # the quote mark of a search snippet
_RAW_AMP = re.compile(r"&(?!amp;|lt;|gt;)")


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def unsafe(payload: Any) -> list[str]:
    """Every string of a payload with a Slack control sequence, a raw `&`, or a control or invisible
    character."""
    found = []
    for text in strings(payload):
        rest = _OURS.sub("", text)
        if "<" in rest or ">" in rest or _RAW_AMP.search(rest) or invisible(text):
            found.append(text)
    return found


class Run:
    examples = 0


@pytest.fixture
def run() -> Run:
    return Run()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(question=hostile_text, answers=st.tuples(hostile_text, hostile_text, hostile_text))
@example(
    question="Tell <!channel> <@U123> <https://evil.example|innocent> & <#C1> <!subteam^S1>",
    answers=("<!here> **bold** [x](<!everyone>)", "```\n<!channel>\n```", "\x00\x1b\u202e &amp; <>"),
)
@example(
    question="Invisible:" + "".join(SAMPLES),
    answers=("\n".join(f"{s}- item {s}" for s in SAMPLES), "".join(SAMPLES) * 5, "\x85- a\n\r- b\n\x1c  * c"),
)
async def test_hostile_questions_and_answers_never_reach_slack_unescaped(
    slack_env: SlackEnv, run: Run, caplog: pytest.LogCaptureFixture, question: str, answers: tuple[str, str, str]
) -> None:
    env = slack_env
    first = question.strip().split(" ", 1)[0].lower()
    if question.strip().lower() in HELP_WORDS or first in ("history", "keys", "settings"):
        question = "Q: " + question  # those words open other flows; a question is what is tested here
    run.examples += 1
    caplog.set_level(logging.ERROR)
    seen_calls, seen_responses = len(env.api.received), len(env.api.responses)
    for model, answer in zip(MODELS, answers, strict=True):
        env.llm.answers[model.split("/", 1)[1]] = answer
    parents = len(env.parents())
    status, _ = await env.command(question)
    assert status == 200
    await env.api.wait_until(
        lambda: (
            len(env.api.responses) > seen_responses
            or (len(env.parents()) > parents and len(env.cards(parents)) >= len(MODELS))
        )
    )
    await env.settle()
    if len(env.parents()) > parents:  # asked: open the full text of an answer, then the Home tab
        ts = env.parents()[parents].ts
        batch = next(t.batch for t in env.bot.renderer.threads.values() if t.question and t.question.message_id == ts)
        stored = await env.service.get_batch(batch.id, env.ws)
        done = [a for a in stored.answers if a.status is AnswerStatus.COMPLETED]
        if done:
            await env.click("expand", done[0].id, user="U2")
            await env.api.wait_until(lambda: f"consensus:collapse:{done[0].id}" in env.screen())
            await env.settle()
        home = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
        await env.send.event(event_callback(home, event_id=f"EvHome{run.examples}"))
        await env.api.wait_until(lambda: any(m == "views.publish" for m, _ in env.api.received[seen_calls:]))
        await env.command(f"history {question[:60]}")
        await env.api.wait_until(lambda: len(env.api.responses) > seen_responses)
    sent = [args for _, args in env.api.received[seen_calls:]] + env.api.responses[seen_responses:]
    assert sent
    bad = unsafe(sent)
    assert not bad, json.dumps(bad[:3], ensure_ascii=False)[:2000]
    said = json.dumps(sent, ensure_ascii=False)
    assert "Something went wrong" not in said and "Slack refused" not in said
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    caplog.clear()

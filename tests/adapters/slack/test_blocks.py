"""Block Kit builders: every state is valid Block Kit, escaped, and buttons carry only verb + id."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.presenter import card
from adapters.slack import blocks, home
from core.domain import (
    MAX_QUESTION_CHARS,
    Answer,
    AnswerStatus,
    Batch,
    BatchStatus,
    ConversationSummary,
    MessageRef,
    Platform,
    WorkspaceRef,
)
from tests.fakes.slack_api import block_errors

WS = WorkspaceRef(Platform.SLACK, "T1")
EVIL = "Use <!channel> and <!here> or <@U123> & <https://evil.example|safe>"


def answer(**kw: Any) -> Answer:
    base: dict[str, Any] = dict(
        id=7,
        batch_id=1,
        conversation_id=1,
        provider_id="openai/gpt-test",
        label="OpenAI",
        status=AnswerStatus.COMPLETED,
        content="**Yes.** " * 20,
        summary="Yes, because.",
        reasoning="It agrees with the others.",
        score=8.5,
        score_method="consensus",
        rank=1,
        tokens_in=12,
        tokens_out=40,
        latency_ms=2100,
        cost_usd=0.0012,
    )
    base.update(kw)
    return Answer(**base)


def batch(answers: tuple[Answer, ...], **kw: Any) -> Batch:
    base: dict[str, Any] = dict(
        id=1,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="C1",
        thread="1700000000.000001",
        asker="U1",
        question="What is 2+2?",
        status=BatchStatus.COMPLETED,
        answers=answers,
    )
    base.update(kw)
    return Batch(**base)


def render(
    shown: Answer, *, others: int = 0, other_selected: bool = False, preview: str | None = None
) -> blocks.Rendered:
    """The card of `shown` in a batch with `others` more answers (the first of them selected, if asked)."""
    extra = tuple(
        answer(id=100 + i, is_selected=other_selected and i == 0) for i in range(max(others, int(other_selected)))
    )
    return blocks.card_message(card.view(shown, batch((shown, *extra)), preview))


def texts(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
            found.append(node)
        for value in node.values():
            found.extend(texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts(value))
    return found


def assert_valid(rendered: blocks.Rendered) -> None:
    for payload in [rendered.blocks, *(more for more, _ in rendered.more)]:
        assert block_errors(payload) == []
        assert sum(len(t["text"]) for t in texts(payload)) <= 12_000
        for obj in texts(payload):
            if obj["type"] == "mrkdwn":
                assert obj["verbatim"] is True
        for element in json.dumps(payload).split('"action_id": ')[1:]:
            assert re.match(r'"consensus:[a-z_]+:\d+"', element)


STATES = {
    "pending": answer(status=AnswerStatus.PENDING, score=None, rank=None),
    "running": answer(status=AnswerStatus.RUNNING, score=None, rank=None),
    "final": answer(),
    "failed": answer(status=AnswerStatus.FAILED, error="Rate limited <!channel>", attempts=3, score=None),
    "selected": answer(is_selected=True, selected_by="U42"),
    "expanded": answer(is_expanded=True, content="# Long\n" + ("word " * 600 + "\n\n") * 12),
    "unpriced": answer(cost_usd=None),
    "cut": answer(ended="length", reasoning="Cut off: the model reached its output limit. Agrees."),
    "reasoned": answer(is_expanded=True, content="It is 4.", thinking="The user <!here> wants a sum.\n\nEasy."),
}


@pytest.mark.parametrize("name", STATES)
def test_every_card_state_is_valid_block_kit(name: str) -> None:
    rendered = render(STATES[name], others=2, preview="partial <!here> " * 400)
    assert_valid(rendered)
    assert rendered.text and "<!" not in rendered.text


# Text that grows when escaped: `&` becomes five characters, `<` and `>` four.
_GROWING = st.text(alphabet=st.sampled_from(list("&&&<<>> ab\n`*")), max_size=9000)


@settings(max_examples=40, deadline=None)
@given(text=_GROWING)
@example(text="&" * 9000)
@example(text="<" * 3000 + " " + ">" * 3000)
@example(text="```\n" + "&<>" * 2500)
def test_every_text_object_stays_within_slacks_limit_once_escaped(text: str) -> None:
    """Block Kit counts the escaped text (3,000 characters per text object): a preview, an error,
    a summary or a consensus line made of `&`, `<` and `>` grows up to five times when escaped."""
    hostile = answer(label=text[:40] or "x", summary=text[:300], reasoning=text[:120], content=text, error=text)
    for variant in (
        hostile,
        replace(hostile, status=AnswerStatus.FAILED),
        replace(hostile, is_expanded=True, thinking=text),
        replace(hostile, status=AnswerStatus.RUNNING),
        replace(hostile, summary=None),
    ):
        assert_valid(render(variant, others=2, preview=text))
    assert_valid(render(replace(hostile, id=8), other_selected=True))  # compact
    ranked = batch((hostile,), question=text[:8000] or "?", consensus=text, disagree=True)
    assert_valid(blocks.parent(ranked, asker_name=text[:80], links={7: "https://x.example/a?b=1&c=2"}))
    assert_valid(blocks.notice(text or "?"))


def test_a_long_preview_shows_its_latest_text_and_cuts_no_entity() -> None:
    rendered = render(answer(status=AnswerStatus.RUNNING), preview="&" * 5000 + " the end <here>")
    [preview] = [t["text"] for t in texts(rendered.blocks) if "the end" in t["text"]]
    assert preview.startswith("…&amp;") and preview.endswith("the end &lt;here&gt;")
    assert len(preview) <= 3000 and preview[1:].replace("&amp;", "").startswith(" the end")


def test_buttons_per_state() -> None:
    def ids(r: blocks.Rendered) -> list[str]:
        return [e["action_id"] for b in r.blocks if b["type"] == "actions" for e in b["elements"]]

    assert ids(render(STATES["final"])) == ["consensus:expand:7", "consensus:select:7", "consensus:delete:7"]
    assert ids(render(STATES["failed"])) == ["consensus:retry:7", "consensus:delete:7"]
    assert ids(render(STATES["pending"])) == []
    assert ids(render(STATES["selected"], others=2)) == [
        "consensus:expand:7",
        "consensus:delete_others:7",
        "consensus:delete:7",
    ]
    assert ids(render(STATES["selected"])) == ["consensus:expand:7", "consensus:delete:7"]
    assert ids(render(STATES["expanded"]))[0] == "consensus:collapse:7"


def test_a_cut_answer_says_how_it_ended_and_offers_retry() -> None:
    rendered = render(STATES["cut"])
    shown = json.dumps(rendered.blocks, ensure_ascii=False)
    assert "✂️ cut off: the model reached its output limit" in shown and "Yes, because." in shown
    actions = [e["action_id"] for b in rendered.blocks if b["type"] == "actions" for e in b["elements"]]
    assert actions == ["consensus:expand:7", "consensus:retry:7", "consensus:select:7", "consensus:delete:7"]
    assert "ended" not in json.dumps(render(STATES["final"]).blocks)


def test_a_refusal_is_named_a_refusal_not_a_cut() -> None:
    rendered = render(replace(STATES["final"], ended="refused"))
    shown = json.dumps(rendered.blocks, ensure_ascii=False)
    assert "🚫 the model refused to answer" in shown and "✂️" not in shown
    assert "consensus:retry:7" not in shown


def test_expand_shows_the_models_reasoning_apart_and_escaped() -> None:
    shown = json.dumps(render(STATES["reasoned"]).blocks)
    assert "It is 4." in shown and "The model's reasoning" in shown and "wants a sum." in shown
    assert "<!here>" not in shown
    assert "reasoning" not in json.dumps(render(replace(STATES["reasoned"], is_expanded=False)).blocks)


def test_final_card_shows_summary_why_score_and_usage() -> None:
    shown = json.dumps(render(STATES["final"]).blocks, ensure_ascii=False)
    for part in (
        "Yes, because.",
        "It agrees with the others.",
        "8.5/10 by agreement",
        "#1 · OpenAI",
        "2.1 s",
        "12 in / 40 out tokens",
        "$0.0012",
        "top ranked",
    ):
        assert part in shown
    assert "cost unknown" in json.dumps(render(STATES["unpriced"]).blocks)


def test_untrusted_text_is_escaped_everywhere() -> None:
    evil = answer(label=EVIL, summary=EVIL, reasoning=EVIL, rank_reason=EVIL, content=EVIL, error=EVIL)
    for variant in (
        evil,
        replace(evil, status=AnswerStatus.FAILED),
        replace(evil, is_expanded=True),
        replace(evil, status=AnswerStatus.RUNNING),
    ):
        rendered = render(variant, preview=EVIL)
        dumped = json.dumps([rendered.blocks, rendered.text])
        assert "<!" not in dumped and "<@" not in dumped and "<http" not in dumped
        assert "&lt;!channel&gt;" in dumped
    parent = blocks.parent(batch((evil,), question=EVIL, consensus=EVIL), asker_name=EVIL)
    dumped = json.dumps([parent.blocks, parent.text])
    assert "<!" not in dumped and "<@" not in dumped


def test_selected_by_is_the_only_mention_and_only_for_a_slack_user_id() -> None:
    shown = json.dumps(render(STATES["selected"]).blocks)
    assert re.findall(r"<[@!#][^>]*>", shown) == ["<@U42>"]
    forged = json.dumps(render(replace(STATES["selected"], selected_by="U1> <!channel")).blocks)
    assert "<!channel" not in forged and "<@" not in forged


def test_the_card_shows_the_models_why_and_apart_what_decided_its_rank() -> None:
    shown = json.dumps(render(answer(rank=2, rank_reason="covers 5 of the 7 shared points")).blocks, ensure_ascii=False)
    assert "_Why:_ It agrees with the others." in shown and "#2 · covers 5 of the 7 shared points" in shown
    expanded = json.dumps(render(answer(rank_reason="3 of 3 agree on 42", is_expanded=True)).blocks, ensure_ascii=False)
    assert "#1 · 3 of 3 agree on 42" in expanded and "_Why:_" not in expanded  # the whole answer says why


def test_others_are_compact_once_one_is_selected() -> None:
    compact = render(answer(id=8, rank_reason="3 of 3 agree on 42"), other_selected=True)
    assert "It agrees" not in json.dumps(compact.blocks)  # no "why", just a line
    assert "agree on 42" not in json.dumps(compact.blocks)
    assert_valid(compact)


def test_expanded_long_answer_continues_in_more_messages_and_loses_nothing() -> None:
    rendered = render(STATES["expanded"])
    assert rendered.more, "a 36k-character answer needs continuation messages"
    shown = " ".join(t["text"] for p in [rendered.blocks, *(m for m, _ in rendered.more)] for t in texts(p))
    assert shown.count("word") == 600 * 12


def test_parent_with_longest_question_is_valid() -> None:
    rendered = blocks.parent(batch((answer(),), question="x " * (MAX_QUESTION_CHARS // 2)), asker_name="alice")
    assert_valid(rendered)
    questions = [b for b in rendered.blocks if b["type"] != "actions"]  # "Export" has an x too
    assert sum(t["text"].count("x") for t in texts(questions)) == MAX_QUESTION_CHARS // 2


def test_parent_shows_disagreement_after_ranking() -> None:
    rendered = blocks.parent(batch((answer(),), consensus="They differ on X.", disagree=True), asker_name="alice")
    assert "The models disagree" in json.dumps(rendered.blocks)


def test_parent_lists_the_ranking_with_links_to_the_cards() -> None:
    shown = (
        answer(id=1, label="Local", score=9.0, rank=1),
        answer(id=2, label="Anthropic", score=7.1, rank=2),
        answer(id=3, label="OpenAI", status=AnswerStatus.FAILED, error="x", score=None, rank=None),
    )
    url = blocks.permalink("https://x.slack.com/", MessageRef("C1", "1700000000.000002"), "1700000000.000001")
    assert url == "https://x.slack.com/archives/C1/p1700000000000002?thread_ts=1700000000.000001&cid=C1"
    rendered = blocks.parent(batch(shown), asker_name="alice", links={1: url})
    link = url.replace("&", "&amp;")
    shown_text = json.dumps(rendered.blocks, ensure_ascii=False)
    assert f"<{link}|#1 Local 9.0> · #2 Anthropic 7.1 · OpenAI failed" in shown_text
    assert_valid(rendered)
    unranked = blocks.parent(batch((replace(shown[0], score=None, rank=None),)), asker_name="alice")
    assert "#1" not in json.dumps(unranked.blocks)


def test_every_ranked_card_shows_its_rank_and_destructive_buttons_ask_first() -> None:
    second = render(answer(rank=2, score=7.0), others=1)
    assert "#2 · OpenAI" in json.dumps(second.blocks, ensure_ascii=False)
    buttons = {
        e["action_id"]: e
        for b in render(STATES["selected"], others=2).blocks
        if b["type"] == "actions"
        for e in b["elements"]
    }
    assert "confirm" in buttons["consensus:delete:7"] and "confirm" in buttons["consensus:delete_others:7"]
    assert "confirm" not in buttons["consensus:expand:7"]


def summary(i: int, **kw: Any) -> ConversationSummary:
    base: dict[str, Any] = dict(
        id=i,
        title=f"Question {i} <!channel>",
        created_by="U1",
        channel="C1",
        thread="1700000000.000001",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, tzinfo=UTC),
        models=3,
        selected="openai/gpt-test",
    )
    base.update(kw)
    return ConversationSummary(**base)


def test_history_home_and_search_views_are_valid() -> None:
    items = [summary(i, snippet="match <@U9>") for i in range(30)]
    url = "https://consensus-test.slack.com/"
    for payload in (
        home.home_view(items, {"U1": "alice"}, url)["blocks"],
        home.results_modal(items, {}, url, "x")["blocks"],
        home.history_message(items, {}, url, "q").blocks,
        home.search_modal()["blocks"],
    ):
        assert block_errors(payload, limit=100) == []
        dumped = json.dumps(payload)
        assert "<!channel>" not in dumped and "<@U9>" not in dumped
    shown = json.dumps(home.home_view(items[:1], {"U1": "alice"}, url))
    assert "<https://consensus-test.slack.com/archives/C1/p1700000000000001|open thread>" in shown
    assert "by alice" in shown and "3 models" in shown and "selected: openai/gpt-test" in shown


def test_thread_link_refuses_odd_ids() -> None:
    url = "https://consensus-test.slack.com/"
    assert home.thread_link(url, "C1|x>", "1.2") == ""
    assert home.thread_link("javascript:alert(1)//", "C1", "1700000000.000001") == ""
    assert home.thread_link(url, "C1", None) == ""


def test_usage_mentions_the_limit() -> None:
    assert "8,000 characters" in json.dumps(home.usage().blocks)

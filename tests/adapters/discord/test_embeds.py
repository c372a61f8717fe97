"""Rendering: every card state, the limits, and mentions defused in untrusted text."""

from __future__ import annotations

import dataclasses

import pytest

from adapters.discord import embeds
from adapters.presenter import card
from core.domain import Answer, AnswerStatus, Batch, BatchStatus, MessageRef, Platform, WorkspaceRef

WS = WorkspaceRef(Platform.DISCORD, "1")
DONE = Answer(
    id=7,
    batch_id=1,
    conversation_id=1,
    provider_id="openai/gpt-test",
    label="OpenAI",
    status=AnswerStatus.COMPLETED,
    content="Paris is the capital.",
    summary="Paris.",
    reasoning="Well known.",
    score=8.5,
    score_method="consensus",
    rank=1,
    tokens_in=10,
    tokens_out=5,
    latency_ms=1234,
    cost_usd=None,
)


def render(answer: Answer, progress: str | None = None) -> embeds.Rendered:
    batch = Batch(
        id=1,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="c",
        thread=None,
        asker="9",
        question="q",
        status=BatchStatus.COMPLETED,
        answers=(answer,),
    )
    return embeds.card_message(card.view(answer, batch, progress))


def verbs(answer: Answer) -> list[str]:
    return [
        a.verb.value
        for a in card.view(
            answer,
            Batch(
                id=1,
                conversation_id=1,
                message_id=1,
                workspace=WS,
                channel="c",
                thread=None,
                asker="9",
                question="q",
                status=BatchStatus.COMPLETED,
                answers=(answer,),
            ),
        ).actions
    ]


def total(rendered: embeds.Rendered) -> int:
    return sum(len(e) for e in rendered.embeds)


def test_a_cut_answer_says_how_it_ended_and_offers_retry() -> None:
    cut = dataclasses.replace(DONE, ended="content_filter")
    [embed] = render(cut).embeds
    assert embed.fields[0].name == "✂️ Ended early"
    assert embed.fields[0].value == "stopped by the provider's content filter"
    assert verbs(cut) == ["expand", "retry", "select", "delete"]
    assert "retry" not in verbs(DONE)
    [whole] = render(DONE).embeds
    assert all("Ended" not in (f.name or "") for f in whole.fields)


def test_a_refusal_is_named_a_refusal_not_a_cut() -> None:
    refused = dataclasses.replace(DONE, ended="refused")
    [embed] = render(refused).embeds
    assert (embed.fields[0].name, embed.fields[0].value) == ("🚫 Refused", "the model refused to answer")
    assert "retry" not in verbs(refused)


def test_expand_shows_the_models_reasoning_apart() -> None:
    reasoned = dataclasses.replace(DONE, is_expanded=True, thinking="The user wants <@123> a capital.")
    text = "".join(e.description or "" for e in render(reasoned).embeds)
    assert text.startswith("Paris is the capital.") and "The model's reasoning" in text
    assert "> The user wants" in text and "<@123>" not in text
    collapsed = render(dataclasses.replace(reasoned, is_expanded=False)).embeds[0]
    assert "reasoning" not in (collapsed.description or "")


def test_a_final_card_shows_summary_why_score_latency_tokens_and_unknown_cost() -> None:
    [embed] = render(DONE).embeds
    assert embed.title == "#1 · OpenAI · gpt-test"
    assert embed.description == "Paris."
    fields = {f.name: f.value for f in embed.fields}
    assert fields == {
        "Why": "Well known.",
        "Score": "8.5/10 by agreement",
        "Usage": "1.2 s · 10 in / 5 out tokens · cost unknown",
    }
    ranked_answer = dataclasses.replace(DONE, rank_reason="3 of 3 agree on Paris")
    [ranked] = render(ranked_answer).embeds
    fields = {f.name: f.value for f in ranked.fields}
    assert (fields["Why"], fields["Rank"]) == ("Well known.", "#1 · 3 of 3 agree on Paris")
    chosen = dataclasses.replace(DONE, id=8, is_selected=True)
    both = Batch(1, 1, 1, WS, "c", None, "9", "q", BatchStatus.COMPLETED, (ranked_answer, chosen))
    [compact] = embeds.card_message(card.view(ranked_answer, both)).embeds
    assert {"Why", "Rank"}.isdisjoint(f.name for f in compact.fields)  # one line once another is chosen


@pytest.mark.parametrize(
    ("answer", "progress", "expected"),
    [
        (dataclasses.replace(DONE, status=AnswerStatus.PENDING), None, "Thinking"),
        (dataclasses.replace(DONE, status=AnswerStatus.RUNNING), "Par", "Writing… 3 characters so far"),
        (
            dataclasses.replace(DONE, status=AnswerStatus.FAILED, error="The API key was rejected."),
            None,
            "Failed:** The API key was rejected.",
        ),
        (dataclasses.replace(DONE, is_deleted=True), None, "Deleted"),
        (dataclasses.replace(DONE, is_expanded=True), None, "Paris is the capital."),
    ],
)
def test_each_state_has_its_card(answer: Answer, progress: str | None, expected: str) -> None:
    assert expected in (render(answer, progress).embeds[0].description or "")


def test_selected_card_names_who_selected_it() -> None:
    [embed] = render(dataclasses.replace(DONE, is_selected=True, selected_by="42")).embeds
    assert embed.title and embed.title.startswith("✅")
    assert {f.name: f.value for f in embed.fields}["Selected"] == "Selected by <@42>"


@pytest.mark.parametrize("size", [4000, 5000, 7000, 40000])
def test_a_long_answer_is_never_cut_silently(size: int) -> None:
    text = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
    rendered = render(dataclasses.replace(DONE, content=text, is_expanded=True))
    assert all(len(e.description or "") <= embeds.DESCRIPTION_MAX for e in rendered.embeds)
    assert total(rendered) <= embeds.MESSAGE_EMBEDS_MAX and len(rendered.embeds) <= 10
    if rendered.files:
        [(name, data)] = rendered.files
        assert data.decode() == text and name == "answer-7.md"
        assert f"{size:,} characters" in (rendered.embeds[0].description or "")
    else:
        assert "".join(e.description or "" for e in rendered.embeds) == text


def test_a_long_question_is_attached_in_full() -> None:
    batch = Batch(
        id=1,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="c",
        thread=None,
        asker="9",
        question="q" * 8000,
        status=BatchStatus.RUNNING,
        answers=(DONE,),
    )
    rendered = embeds.question_message(batch)
    assert rendered.files == [("question.md", b"q" * 8000)]
    assert rendered.content and len(rendered.content) <= embeds.CONTENT_MAX
    assert rendered.content.startswith("**<@9> asked**")
    assert total(rendered) <= embeds.MESSAGE_EMBEDS_MAX


def test_status_follows_the_batch_and_lists_the_ranking_with_jump_links() -> None:
    running = Batch(
        id=1,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="c",
        thread=None,
        asker="9",
        question="q",
        status=BatchStatus.RUNNING,
        answers=(
            DONE,
            dataclasses.replace(DONE, id=8, label="Claude", status=AnswerStatus.RUNNING, score=None, rank=None),
        ),
    )
    assert embeds.status_text(running) == "1/2 answered · waiting for Claude"
    failed = dataclasses.replace(DONE, id=8, label="Claude", status=AnswerStatus.FAILED, rank=None, score=None)
    done = dataclasses.replace(
        running, status=BatchStatus.PARTIAL, answers=(DONE, failed), consensus="@everyone agrees", disagree=True
    )
    url = embeds.message_url("1", MessageRef("2", "3"))
    assert url == "https://discord.com/channels/1/2/3"
    lines = embeds.status_text(done, {7: url}).split("\n")
    assert lines[0] == "1/2 answered · Claude failed · ranked by agreement · cost unknown (2 prices unknown)"
    assert lines[1] == f"[#1 OpenAI 8.5]({url}) · Claude failed"
    assert lines[2] == "⚠️ The models disagree. @\u200beveryone agrees"


def test_mentions_in_untrusted_text_are_defused() -> None:
    text = "@everyone @here <@1> <@!2> <@&3> <#4> a@b.c"
    assert embeds.neutralise(text) == (
        "@\u200beveryone @\u200bhere <@\u200b1> <@!\u200b2> <@&\u200b3> <#\u200b4> a@b.c"
    )
    answer = dataclasses.replace(DONE, summary="ping @everyone", reasoning="<@&3>", rank_reason="answers <@&4>")
    [embed] = render(answer).embeds
    assert "@everyone" not in (embed.description or "") and "<@&3>" not in str(embed.fields)
    assert {f.name: f.value for f in embed.fields}["Rank"] == "#1 · answers <@&\u200b4>"


def test_split_text_keeps_every_character() -> None:
    text = "word " * 3000 + "x" * 5000
    parts = embeds.split_text(text, 1000)
    assert "".join(parts) == text and all(len(p) <= 1000 for p in parts)
    assert embeds.thread_name("  many\nlines " + "y" * 200).startswith("many lines")
    assert len(embeds.thread_name("z" * 500)) == 100


def test_control_characters_go_and_masked_links_show_where_they_lead() -> None:
    assert embeds.neutralise("a\x00b\x1b[1mc\u202ed\r\ne\tf") == "ab[1mcd\ne\tf"
    assert (
        embeds.neutralise("[https://bank.example](https://evil.example)")
        == "https://bank.example (https://evil.example)"
    )
    assert (
        embeds.neutralise('[[a](https://x.example)](<https://y.example> "t")')
        == "a (https://x.example) (https://y.example)"
    )
    assert embeds.neutralise("@\u200beveryone") == "@\u200beveryone"  # a hidden space cannot smuggle a ping
    assert embeds.thread_name("<@&1> \x00hi") == "<@&\u200b1> hi"


def test_a_masked_link_cut_short_never_forms_a_link() -> None:
    assert embeds.neutralise("See [the docs](https://docs.example/pa") == "See [the docs] (https://docs.example/pa"
    running = dataclasses.replace(DONE, status=AnswerStatus.RUNNING, content=None)
    shown = render(running, "See [the docs](https://docs.example/pa").embeds[0].description or ""
    assert "](" not in shown and "the docs" in shown


def test_the_card_says_which_key_paid() -> None:
    [embed] = render(dataclasses.replace(DONE, key_label="team ••3f9a")).embeds
    assert embed.footer.text == "key: team ••3f9a"
    failed = dataclasses.replace(DONE, status=AnswerStatus.FAILED, error="401", key_label="your key ••12ab")
    assert render(failed).embeds[0].footer.text == "key: your key ••12ab"
    long = dataclasses.replace(DONE, content="word " * 1000, is_expanded=True, key_label="operator")
    parts = render(long).embeds
    assert len(parts) == 2 and parts[-1].footer.text == "part 2 of 2 · key: operator"
    assert render(dataclasses.replace(DONE, key_label=None)).embeds[0].footer.text is None

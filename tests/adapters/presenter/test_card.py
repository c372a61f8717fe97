"""The card view and the verbs: the rules every platform draws, tested once, without a platform."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from adapters.presenter import actions, card
from adapters.presenter.actions import Click, Verb
from core.domain import Actor, Answer, AnswerStatus, Batch, BatchStatus, Ending, Merging, Platform, WorkspaceRef

WS = WorkspaceRef(Platform.SLACK, "T1")


def answer(**kw: Any) -> Answer:
    base: dict[str, Any] = dict(
        id=7,
        batch_id=1,
        conversation_id=1,
        provider_id="openai/gpt-test",
        label="OpenAI",
        status=AnswerStatus.COMPLETED,
        content="Four.",
        summary="Four.",
        score=8.5,
        score_method="consensus",
        rank=1,
        latency_ms=2100,
        tokens_in=12,
        tokens_out=40,
    )
    base.update(kw)
    return Answer(**base)


def batch(*answers: Answer) -> Batch:
    return Batch(
        id=1,
        conversation_id=1,
        message_id=1,
        workspace=WS,
        channel="C1",
        thread=None,
        asker="U1",
        question="q",
        status=BatchStatus.COMPLETED,
        answers=answers,
    )


def verbs(shown: Answer, *others: Answer) -> list[str]:
    return [a.verb.value for a in card.view(shown, batch(shown, *others)).actions]


def test_the_actions_offered_in_each_state() -> None:
    other = answer(id=8, rank=2)
    assert verbs(answer(status=AnswerStatus.PENDING, score=None, rank=None)) == []
    assert verbs(answer(status=AnswerStatus.RUNNING, score=None, rank=None)) == []
    assert verbs(answer(status=AnswerStatus.FAILED, error="x", score=None, rank=None)) == ["retry", "delete"]
    assert verbs(answer(), other) == ["expand", "select", "delete"]  # no Delete others before a selection
    assert verbs(answer(ended="length"), other) == ["expand", "retry", "select", "delete"]
    assert verbs(answer(is_expanded=True), other) == ["collapse", "select", "delete"]
    assert verbs(answer(is_selected=True), other) == ["expand", "delete_others", "delete"]
    assert verbs(answer(is_selected=True)) == ["expand", "delete"]  # nothing else left to delete
    assert verbs(answer(), replace(other, is_selected=True)) == ["expand", "select", "delete"]


def test_destructive_actions_ask_first() -> None:
    shown = card.view(answer(is_selected=True), batch(answer(is_selected=True), answer(id=8)))
    asks = {a.verb: a.confirm for a in shown.actions}
    assert asks[Verb.DELETE] is not None and asks[Verb.DELETE_OTHERS] is not None
    assert asks[Verb.EXPAND] is None


def test_every_ranked_card_has_its_rank_and_only_finished_ones() -> None:
    assert card.view(answer(rank=2), batch(answer(rank=2))).rank == 2
    assert card.view(answer(), batch(answer())).is_top
    failed = answer(status=AnswerStatus.FAILED, rank=3)
    assert card.view(failed, batch(failed)).rank is None


def test_the_why_and_the_rank_line_are_two_things_and_neither_replaces_the_other() -> None:
    ranked = answer(rank=2, reasoning="The manual says so.", rank_reason="covers 5 of the 7 shared points")
    shown = card.view(ranked, batch(ranked))
    assert (shown.why, shown.rank_line) == ("The manual says so.", "#2 · covers 5 of the 7 shared points")
    unranked = answer(rank=None, score=None, reasoning="Own.", rank_reason=None)
    assert (card.view(unranked).why, card.view(unranked).rank_line) == ("Own.", "")
    no_why = answer(reasoning=None, rank_reason="3 of 3 agree on 42")
    assert (card.view(no_why).why, card.view(no_why).rank_line) == ("", "#1 · 3 of 3 agree on 42")
    failed = answer(status=AnswerStatus.FAILED, reasoning="stale", rank_reason="stale")
    assert (card.view(failed).why, card.view(failed).rank_line) == ("", "")
    chosen = answer(id=8, is_selected=True)
    compact = card.view(ranked, batch(ranked, chosen))
    assert compact.compact and (compact.why, compact.rank_line) == ("", "")  # a compact card is one line


def test_the_consensus_line_once_ranked_flagged_only_where_results_differ() -> None:
    done = replace(batch(answer(), answer(id=8, rank=2)), consensus="2 of 3 answer 42; Llama answers 44.")
    assert card.consensus_line(done) == "2 of 3 answer 42; Llama answers 44."
    assert card.consensus_line(replace(done, disagree=True)) == (
        "⚠️ The models disagree. 2 of 3 answer 42; Llama answers 44."
    )
    running = replace(done, answers=(*done.answers, answer(id=9, status=AnswerStatus.RUNNING, score=None)))
    assert card.consensus_line(running) == ""  # not before the ranking is in
    assert card.consensus_line(replace(done, consensus=None)) == ""


def test_compact_once_another_is_selected_and_the_preview_only_while_writing() -> None:
    chosen = answer(id=8, is_selected=True)
    assert card.view(answer(), batch(answer(), chosen)).compact
    assert not card.view(answer(is_expanded=True), batch(answer(), chosen)).compact
    running = answer(status=AnswerStatus.RUNNING, score=None, rank=None)
    assert card.view(running, batch(running), "Fo").state is card.CardState.WRITING
    assert card.view(running, batch(running)).state is card.CardState.WAITING
    assert card.view(answer(), batch(answer()), "stale").preview is None


def test_facts_in_the_same_words_everywhere() -> None:
    assert card.score_text(answer()) == "8.5/10 by agreement"
    assert card.score_text(answer(score_method="judge")) == "8.5/10 by a judge model"
    assert card.method_words("consensus (judge failed: timeout)") == "by agreement (judge failed: timeout)"
    assert card.usage_line(answer(cost_usd=0.0012, key_label="team <x>"), lambda t: t.upper()) == (
        "2.1 s · 12 in / 40 out tokens · $0.0012 · key: TEAM <X>"
    )
    assert card.usage_line(answer()) == "2.1 s · 12 in / 40 out tokens · cost unknown"
    stopped = answer(cost_usd=0.0012, ended=Ending.STOPPED, stopped_by="U1")  # its usage never came: estimated
    assert card.usage_line(stopped) == "2.1 s · ≈ 12 in / 40 out tokens · ≈ $0.0012"


def test_status_lines() -> None:
    ok = answer()
    failed = answer(id=8, label="Claude", status=AnswerStatus.FAILED, error="x", score=None, rank=None)
    waiting = answer(id=9, label="Llama", status=AnswerStatus.PENDING, score=None, rank=None)
    assert card.status_line(batch(ok, replace(ok, id=2), replace(ok, id=3))) == (
        "3/3 answered · ranked by agreement · cost unknown (3 prices unknown)"
    )
    priced = replace(ok, id=3, cost_usd=0.0123)
    assert card.status_line(batch(ok, failed, priced)) == (
        "2/3 answered · Claude failed · ranked by agreement · cost ≥ $0.0123 (2 prices unknown)"
    )
    assert card.status_line(batch(ok, waiting)) == "1/2 answered · waiting for Llama"  # no total while answering
    chosen = replace(ok, is_selected=True, selected_by="U1", cost_usd=0.02)
    assert card.status_line(batch(chosen, replace(ok, id=2, is_deleted=True, cost_usd=0.015))) == (
        "1/1 answered · ranked by agreement · selected: OpenAI · 1 deleted · cost $0.0350"  # the deleted was paid
    )


def test_the_ranked_list_best_first_with_links() -> None:
    shown = batch(
        answer(id=1, label="OpenAI", status=AnswerStatus.FAILED, error="x", score=None, rank=None),
        answer(id=2, label="Anthropic", score=7.1, rank=2),
        answer(id=3, label="Local", score=9.0, rank=1),
        answer(id=4, label="Gone", rank=None, is_deleted=True),
    )
    line = card.ranking_line(shown, {3: "u3", 1: "u1"}, lambda text, url: f"<{url}|{text}>")
    assert line == "<u3|#1 Local 9.0> · #2 Anthropic 7.1 · <u1|OpenAI failed>"
    running = replace(shown, answers=(*shown.answers, answer(id=5, status=AnswerStatus.RUNNING, score=None)))
    assert card.ranking_line(running, {}, lambda text, url: text) == ""  # not before the ranking is in


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("consensus:delete:7", Click(Verb.DELETE, 7)),
        ("consensus:delete_others:12:yes", Click(Verb.DELETE_OTHERS, 12, confirmed=True)),
        ("consensus:export:4", Click(Verb.EXPORT, 4)),
        ("consensus:others:7", None),
        ("consensus:delete:7:no", None),
        ("consensus:select:" + "9" * 19, None),
        ("consensus:search:0", None),
        ("", None),
    ],
)
def test_component_ids_parse_back_or_not_at_all(value: str, expected: Click | None) -> None:
    assert actions.parse(value) == expected
    if expected is not None:
        assert actions.component_id(expected.verb, expected.target_id, confirmed=expected.confirmed) == value


async def test_each_verb_calls_its_service_method_once() -> None:
    called: list[tuple[str, int]] = []

    class Service:
        def __getattr__(self, name: str) -> Any:
            async def call(answer_id: int, actor: Actor) -> Answer:
                called.append((name, answer_id))
                return answer(id=answer_id)

            return call

    actor = Actor(WS, "U1")
    changing = [v for v in Verb if v is not Verb.EXPORT]  # Export reads; each platform sends the file
    for verb in changing:
        await actions.perform(Service(), Click(verb, 3), actor)  # type: ignore[arg-type]
    assert called == [(v.value, 3) for v in changing]
    assert Click(Verb.DELETE, 3).needs_confirmation and not Click(Verb.DELETE, 3, confirmed=True).needs_confirmation
    assert not Click(Verb.SELECT, 3).needs_confirmation
    export = Click(Verb.EXPORT, 3)  # on the question's message, for anyone, with no confirmation
    assert export.on_question and not export.needs_confirmation and export.verb not in actions.PRIVILEGED


@pytest.mark.parametrize(
    "ended,replaced,expected",
    [
        ("complete", False, None),
        ("length", False, ("✂️", "Ended early", "cut off: the model reached its output limit")),
        ("closed", False, ("✂️", "Ended early", "the connection closed before the answer ended")),
        ("refused", False, ("🚫", "Refused", "the model refused to answer")),
        ("complete", True, ("⚠️", "Note", "some characters were not valid UTF-8 and show as �")),
    ],
)
def test_how_an_answer_ended_is_named_for_what_it_was(ended: str, replaced: bool, expected: Any) -> None:
    line = card.ending_line(answer(ended=ended, replaced_characters=replaced))
    assert (line.icon, line.title, line.note) == expected if expected else line is None


def merged(**kw: Any) -> Answer:
    base: dict[str, Any] = dict(
        id=9,
        provider_id="openai/gpt-merge",
        label="Merged answer",
        score=None,
        score_method=None,
        rank=None,
        is_merge=True,
        merged_from=(("B", "Anthropic"), ("A", "OpenAI")),
    )
    return answer(**{**base, **kw})


def test_merge_and_export_are_offered_on_the_question_once_every_model_has_answered() -> None:
    two = (answer(id=7), answer(id=8, rank=2, provider_id="anthropic/claude-test", label="Anthropic"))

    def offered(shown: Batch) -> list[Verb]:
        return [a.verb for a in card.question_actions(shown)]

    assert offered(batch(*two)) == [Verb.MERGE, Verb.EXPORT]
    running = replace(two[1], status=AnswerStatus.RUNNING, score=None, rank=None)
    assert offered(batch(two[0], running)) == [Verb.STOP]  # a model still answers: only Stop
    assert offered(batch(two[0], replace(running, ended="stopped"))) == []  # stopped, what arrived being stored
    assert offered(batch(two[0], replace(two[1], is_deleted=True))) == [Verb.EXPORT]  # one kept answer
    assert offered(batch(*two, merged())) == [Verb.EXPORT]  # merged already
    assert offered(batch(*two, merged(is_deleted=True))) == [Verb.MERGE, Verb.EXPORT]
    assert offered(replace(batch(*two), merging=Merging.OFF)) == [Verb.EXPORT]
    failed = replace(two[1], status=AnswerStatus.FAILED, score=None, rank=None)
    assert offered(batch(replace(two[0], status=AnswerStatus.FAILED), failed)) == [Verb.EXPORT]  # nothing to merge


def test_a_merge_is_no_models_answer_in_the_status_and_the_ranking() -> None:
    two = (answer(id=7), answer(id=8, rank=2, provider_id="anthropic/claude-test", label="Anthropic"))
    writing = batch(*two, merged(status=AnswerStatus.RUNNING, content=None, summary=None))
    assert card.is_ranked(writing) and not card.waiting(writing)
    assert card.status_line(writing).startswith("2/2 answered · ranked by agreement · merging with gpt-merge…")
    done = batch(*two, merged(is_selected=True))
    assert "merged by gpt-merge · selected: Merged answer" in card.status_line(done)
    assert [a.id for a in card.ranked(done)] == [7, 8]
    assert card.sources_line(merged()) == "Merged from A · OpenAI, B · Anthropic"
    assert card.sources_line(answer()) == ""
    assert [a.verb for a in card.view(merged(), done).actions] == [Verb.EXPAND, Verb.SELECT, Verb.DELETE]


def test_stop_is_on_the_question_while_anything_is_written_and_offered_after_a_select() -> None:
    done = answer(id=7, is_selected=True, selected_by="U1")
    writing = answer(id=8, status=AnswerStatus.RUNNING, label="Anthropic", content=None, score=None, rank=None)
    stopping = replace(writing, ended="stopped", stopped_by="U1")  # stored stopped, its writer not done yet
    assert [(a.verb, a.label) for a in card.question_actions(batch(done, writing))] == [(Verb.STOP, "Stop")]
    assert card.question_actions(batch(done, stopping)) == ()  # a second Stop would stop nothing
    offered = card.offer_after(Verb.SELECT, batch(done, writing))
    assert offered is not None and (offered.action.verb, offered.action.label) == (Verb.STOP, "Stop the others")
    assert "Anthropic" in offered.text and "kept" in offered.text
    assert card.offer_after(Verb.SELECT, batch(done, answer(id=8))) is None  # nothing left to stop
    assert card.offer_after(Verb.EXPAND, batch(done, writing)) is None
    stop = actions.parse(actions.component_id(Verb.STOP, 1))
    assert stop is not None and stop.on_question and Verb.STOP in actions.PRIVILEGED


def test_a_stopped_answer_says_who_stopped_it_and_is_ranked_and_retried_as_cut() -> None:
    kept = answer(ended="stopped", stopped_by="U1", content="Half an answer", rank=2)
    line = card.ending_line(kept, str.upper, lambda who: f"<@{who}>")
    assert line is not None and (line.icon, line.title, line.note) == ("⏹", "Stopped", "Stopped by <@U1>")
    assert "retry" in verbs(kept) and "select" in verbs(kept)
    empty = answer(id=8, status=AnswerStatus.FAILED, ended="stopped", stopped_by="U1", content=None, label="Ollama")
    line = card.ending_line(empty)
    assert line is not None and line.note == "Stopped by U1; no text was kept"
    assert verbs(empty) == ["retry", "delete"]
    both = batch(kept, empty)
    assert "Ollama stopped" in card.status_line(both) and "failed" not in card.status_line(both)
    assert "Ollama stopped" in card.ranking_line(both, {}, lambda text, url: text)

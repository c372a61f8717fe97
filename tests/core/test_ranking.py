"""Consensus ranking invariants: padding never pays, order and names don't matter, majority wins."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS
from core.ranking import ConsensusRanker, Ranking, rank_fn
from core.ranking.values import one_decimal

RANKER = ConsensusRanker()
MATH_Q = "A farmer has 12 cows and buys 30 more. How many cows does the farmer have now?"


def math_answer(steps: str, result: str) -> str:
    return f"The farmer starts with 12 cows. {steps} So the farmer has \\boxed{{{result}}} cows."


MATH = {
    "a": math_answer("Buying 30 more gives 12 + 30 = 42.", "42"),
    "b": math_answer("Adding the purchase: 12 plus 30 is 42 cows in total.", "42"),
    "c": math_answer("He bought 30, so 30 + 12 = 42.", "42"),
    "d": math_answer(
        "He buys 30 more cows, and each purchase is recorded carefully in the ledger of the farm, "
        "with prices, dates, breeds, vaccination certificates, feeding plans and the transport "
        "arrangements; subtracting the 12 original cows from the 30 purchased leaves 18.",
        "18",
    ),
}

OPEN_Q = "How can I improve my time management skills?"
OPEN = {
    "gpt": "Plan your week in advance. Prioritise tasks by urgency and importance. Block focused time "
    "in your calendar, limit distractions such as notifications, and review progress every Friday.",
    "bard": "Use a calendar and a to-do list. Prioritise the important tasks first and break large "
    "projects into small steps. Avoid multitasking and take short breaks to stay focused.",
    "llama": "Time management matters. Set clear goals, prioritise, and use a planner.",
    "tiny": "I'm not trained to do that.",
}

FILLERS = [
    "I hope this helps!",
    "Let me know if you have any other questions.",
    "Feel free to ask if anything is unclear.",
    "Thank you for your question.",
    "Good luck!",
    "Hope this helps, and let me know if you need anything else.",
]


def _values(ranking: Ranking) -> dict[str, float]:
    return {k: s.value for k, s in ranking.scores.items()}


def test_scores_in_range_one_decimal_and_reason_short() -> None:
    for q, answers in ((MATH_Q, MATH), (OPEN_Q, OPEN)):
        ranking = RANKER.score(q, answers)
        assert ranking.method == "consensus" and set(ranking.scores) == set(answers)
        assert ranking.consensus and len(ranking.consensus) <= 200
        for s in ranking.scores.values():
            assert 0.0 <= s.value <= 10.0 and round(s.value, 1) == s.value
            assert s.reason and len(s.reason.split()) <= WHY_MAX_WORDS and len(s.reason) <= WHY_MAX_CHARS


def test_contradicting_answer_ranks_last_in_every_order() -> None:
    for order in itertools.permutations(MATH):
        values = _values(RANKER.score(MATH_Q, {k: MATH[k] for k in order}))
        assert all(values["d"] < values[k] for k in "abc"), (order, values)


def test_majority_reason_names_the_result_and_disagree_stays_down() -> None:
    ranking = RANKER.score(MATH_Q, MATH)
    assert "42" in ranking.scores["a"].reason and "3" in ranking.scores["a"].reason
    assert "18" in ranking.scores["d"].reason
    assert not ranking.disagree
    assert "42" in ranking.consensus


def test_all_different_results_raise_disagree() -> None:
    answers = {k: math_answer("Some working.", r) for k, r in zip("abc", ("42", "18", "40"), strict=True)}
    assert RANKER.score(MATH_Q, answers).disagree


def test_refusal_ranks_below_real_answers() -> None:
    values = _values(RANKER.score(OPEN_Q, OPEN))
    assert values["tiny"] == min(values.values())
    assert values["gpt"] > values["llama"]


def test_single_and_empty_answers() -> None:
    only = RANKER.score(OPEN_Q, {"x": OPEN["gpt"]})
    assert "only answer" in only.scores["x"].reason.lower() and only.scores["x"].value > 0
    empty = RANKER.score(OPEN_Q, {"x": "", "y": OPEN["bard"]})
    assert empty.scores["x"].value == 0.0 < empty.scores["y"].value
    assert RANKER.score(OPEN_Q, {}).scores == {}


async def test_async_rank_equals_sync_score() -> None:
    assert await RANKER.rank(OPEN_Q, OPEN) == RANKER.score(OPEN_Q, OPEN)


def test_rank_fn_returns_the_bot_scores() -> None:
    assert rank_fn(OPEN_Q, dict(OPEN)) == _values(RANKER.score(OPEN_Q, OPEN))


@settings(max_examples=40, deadline=None)
@given(
    st.permutations([*OPEN, "m"]), st.lists(st.text("xyz", min_size=1, max_size=5), min_size=5, max_size=5, unique=True)
)
def test_shuffling_and_renaming_change_no_score(order: list[str], names: list[str]) -> None:
    base = {**OPEN, "m": MATH["a"]}
    ref = RANKER.score(OPEN_Q, base)
    shuffled = RANKER.score(OPEN_Q, {k: base[k] for k in order})
    renamed = RANKER.score(
        OPEN_Q,
        {new: base[old] for old, new in zip(order, names, strict=True)},
        {new: old for old, new in zip(order, names, strict=True)},  # the same models under other keys
    )
    assert shuffled == ref
    for old, new in zip(order, names, strict=True):
        assert renamed.scores[new] == ref.scores[old]
    assert (renamed.disagree, renamed.consensus) == (ref.disagree, ref.consensus)


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12)
sentence = st.lists(words, min_size=3, max_size=15).map(lambda ws: " ".join(ws) + ".")
answer_text = st.lists(sentence, min_size=1, max_size=12).map(" ".join)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(answer_text, min_size=1, max_size=4),
    st.sampled_from([MATH_Q, OPEN_Q]),
    st.lists(st.sampled_from(FILLERS), min_size=1, max_size=6),
    st.sampled_from(["\n\n", " ", "\n"]),
)
def test_padding_never_pays(texts: list[str], question: str, filler: list[str], sep: str) -> None:
    answers = {f"m{i}": t for i, t in enumerate(texts)}
    answers["real"] = OPEN["gpt"]
    original = RANKER.score(question, answers).scores["m0"].value
    for padded in (texts[0] + sep + texts[0], texts[0] + sep + " ".join(filler), " ".join(filler) + sep + texts[0]):
        value = RANKER.score(question, {**answers, "m0": padded}).scores["m0"].value
        assert value <= original, (padded, value, original)


def test_padding_known_answers_never_pays() -> None:
    for key, text in {**OPEN, **MATH}.items():
        answers = dict(MATH if key in MATH else OPEN)
        question = MATH_Q if key in MATH else OPEN_Q
        original = RANKER.score(question, answers).scores[key].value
        for padded in (f"{text}\n\n{text}", f"{text}\n\n{' '.join(FILLERS)}"):
            assert RANKER.score(question, {**answers, key: padded}).scores[key].value <= original


def test_one_decimal_keeps_strict_preferences_apart() -> None:
    out = one_decimal({"a": 60.4 / 10, "b": 59.6 / 10, "c": 5.96, "d": 0.01, "e": 0.0})
    assert out["a"] == 6.0 and out["b"] == 5.9 and out["c"] == 5.9
    assert out["d"] > out["e"] or out["d"] == 0.0
    assert one_decimal({"x": 12.0, "y": -1.0}) == {"x": 10.0, "y": 0.0}


# Calibration: a score means the same on every batch, whatever the question's natural length.

FRANCE_Q = "What is the capital of France?"
FRANCE = {
    "a": "**Paris** is the capital of France. It has been since 987.",
    "b": "The capital of France is Paris, seat of government.",
    "c": "I believe it is Lyon.",
}


def _words(text: str) -> set[str]:
    return {w.strip(".,;:()").lower() for w in text.split()}


def test_short_agreeing_answers_score_high_and_the_contradicted_one_low() -> None:
    ranking = RANKER.score(FRANCE_Q, FRANCE)
    values = _values(ranking)
    assert values["a"] >= 6 and values["b"] >= 6, values
    assert values["c"] <= 3, values
    for key in "ab":
        assert "Paris" in ranking.scores[key].reason and "2 of 3" in ranking.scores[key].reason
    assert "Lyon" in ranking.scores["c"].reason and "Paris" in ranking.scores["c"].reason
    assert "Paris" in ranking.consensus and "Lyon" in ranking.consensus and "2 of 3" in ranking.consensus


def test_reasons_and_consensus_use_words_the_answers_wrote() -> None:
    for question, answers in ((FRANCE_Q, FRANCE), (OPEN_Q, OPEN), (MATH_Q, MATH)):
        ranking = RANKER.score(question, answers)
        written = set().union(*(_words(t) for t in answers.values()))
        listed = ranking.consensus.partition(":")[2].partition(".")[0] if ":" in ranking.consensus else ""
        assert _words(listed.replace(" and ", ", ")) - {""} <= written, ranking.consensus
        assert "pari" not in _words(ranking.consensus) | set().union(
            *(_words(s.reason) for s in ranking.scores.values())
        )


def test_open_question_scores_span_the_scale() -> None:
    values = _values(RANKER.score(OPEN_Q, OPEN))
    assert 7 <= values["gpt"] <= 9.5 and 7 <= values["bard"] <= 9.5
    assert 3 <= values["llama"] < values["bard"]
    assert values["tiny"] <= 1


def test_brevity_alone_keeps_a_right_answer_well_above_a_wrong_one() -> None:
    values = _values(RANKER.score(MATH_Q, {**MATH, "e": "42."}))
    assert values["e"] >= 6 and values["d"] <= 3, values


def test_single_answer_gets_a_mid_high_score_and_says_so() -> None:
    for text in (OPEN["gpt"], "Paris."):
        score = RANKER.score(FRANCE_Q, {"x": text}).scores["x"]
        assert 5 <= score.value <= 8 and "only answer" in score.reason.lower()
    refusal = RANKER.score(OPEN_Q, {"x": OPEN["tiny"]}).scores["x"]
    assert refusal.value <= 1


def test_a_refusal_neither_votes_nor_dilutes_the_agreement() -> None:
    with_refusal = RANKER.score(FRANCE_Q, {**FRANCE, "d": "I'm sorry, but I cannot help with that."})
    values = _values(with_refusal)
    assert values["d"] <= 1 and values["a"] == _values(RANKER.score(FRANCE_Q, FRANCE))["a"]
    assert with_refusal.consensus == "2 of 3 answer Paris; c answers Lyon. d declined."


def test_disagree_flags_a_full_dissent_but_not_a_thin_one() -> None:
    assert not RANKER.score(FRANCE_Q, FRANCE).disagree  # a bare "Lyon" is named in the line instead
    full_dissent = {
        **FRANCE,
        "c": "Lyon is the capital of France. It hosts the regional council, the prefecture, the main "
        "courts and most ministries, and it has been the seat of government for centuries.",
    }
    assert RANKER.score(FRANCE_Q, full_dissent).disagree


def test_named_things_that_no_two_answers_share_are_not_a_vote() -> None:
    answers = {
        "a": "Douglas Adams said it is 42, in a famous novel.",
        "b": "Aristotle argued it is happiness, a life of virtue.",
        "c": "Many people find meaning in family and in helping others.",
    }
    ranking = RANKER.score("What is the meaning of life?", answers)
    assert min(_values(ranking).values()) >= 3
    assert "agree" not in ranking.consensus and not ranking.disagree  # different words are no disagreement


# Talk about the answering itself, in ordinary words: none of it is about the question.
SELF_TALK_FILLER = [
    "I reviewed my reasoning thoroughly to make sure it is accurate.",
    "Each point here was checked carefully, and the whole response is consistent.",
    "I tried to keep this explanation clear, balanced and easy to follow.",
]


def test_self_talk_filler_never_raises_a_score_or_a_rank() -> None:
    for question, answers in ((OPEN_Q, OPEN), (MATH_Q, MATH), (FRANCE_Q, FRANCE)):
        base = _values(RANKER.score(question, answers))
        for key, text in answers.items():
            for n in (1, len(SELF_TALK_FILLER)):
                padded = _values(
                    RANKER.score(question, {**answers, key: f"{text}\n\n{' '.join(SELF_TALK_FILLER[:n])}"})
                )
                assert padded[key] <= base[key], (key, n)
                assert sum(v > padded[key] for v in padded.values()) >= sum(v > base[key] for v in base.values())


def test_a_worked_dissent_outweighs_a_thin_majority_of_one() -> None:
    terse = {"a": "30 - 12 = 18, so \\boxed{18}.", "b": "He has \\boxed{18} cows."}
    worked = {**terse, "c": MATH["a"] + " Check: 42 - 30 = 12, the cows he started with, so 42 holds."}
    ranking = RANKER.score(MATH_Q, worked)
    assert max(ranking.scores, key=lambda k: ranking.scores[k].value) == "c"
    assert ranking.disagree
    thin = RANKER.score(MATH_Q, {**terse, "c": "\\boxed{42}"})  # no fuller than the majority: it loses
    assert thin.scores["c"].value < min(thin.scores[k].value for k in terse)


def test_a_dissent_whose_own_working_ends_elsewhere_contests_nothing() -> None:
    terse = {"a": "12 + 30 = 42, so \\boxed{42}.", "b": "He now has 12 + 30 = \\boxed{42} cows."}
    working = (
        "The farmer starts with 12 cows and buys 30 more, each purchase recorded in the ledger of the "
        "farm with prices, dates, breeds and vaccination certificates. The herd is 12 + 30 = 42 cows, "
        "and with two ears each the vet tags 42 × 2 = 84 ears."
    )
    ends_on_84 = RANKER.score(MATH_Q, {**terse, "c": working + " \\boxed{84}"})
    assert max(ends_on_84.scores, key=lambda k: ends_on_84.scores[k].value) == "c"  # much fuller: it contests
    ends_on_42 = RANKER.score(MATH_Q, {**terse, "c": working + " That is 84 / 2 = 42 cows. \\boxed{84}"})
    assert ends_on_42.scores["c"].value < min(ends_on_42.scores[k].value for k in terse)
    assert ends_on_42.scores["a"].reason.startswith("2 of 3 agree on 42")


GOATS_Q = "Bubbles has 14 stuffed animals. How many stuffed goats must she buy so that goats are 30% of all of them?"
ROUNDED = {
    "a": "30% of 14 is 0.3 × 14 = 4.2 goats. She cannot buy part of a goat, so she buys \\boxed{5}.",
    "b": "She has 14 animals, and 0.3 × 14 = 4.2. Rounding up, she buys \\boxed{5} goats.",
}
SOLVED = "Goats are 30% of the new total: x = 0.3 × (14 + x), so x = 4.2 / 0.7 = 6. She buys \\boxed{6} goats."


def test_a_dissent_whose_working_ends_on_its_result_outweighs_a_majority_whose_working_does_not() -> None:
    ranking = RANKER.score(GOATS_Q, {**ROUNDED, "c": SOLVED})
    assert max(ranking.scores, key=lambda k: ranking.scores[k].value) == "c"
    assert ranking.scores["c"].reason.startswith("answers 6, where its working ends; the 2 on 5 do not")
    assert ranking.scores["a"].reason.startswith("2 of 3 agree on 5, but their working does not end on it")
    assert RANKER.score(GOATS_Q, {**ROUNDED, "c": "x = 4.2 / 0.7 = 6, so \\boxed{6}."}).disagree  # even a thin one
    worked = {**ROUNDED, "b": ROUNDED["b"].replace("Rounding up", "Rounding up, ⌈4.2⌉ = 5")}
    stands = RANKER.score(GOATS_Q, {**worked, "c": SOLVED})  # one majority answer's working ends on 5
    assert stands.scores["c"].value < min(stands.scores[k].value for k in ROUNDED)


# What the free ranking says: each rank's reason, and a consensus line a person can check.

NAMES = {"a": "Claude", "b": "GPT", "c": "Gemini", "d": "Llama"}
FOUR = {
    "a": "Buying 30 more gives 12 + 30 = 42.\nANSWER: 42",
    "b": "12 plus 30 is 42 cows.\nANSWER: 42",
    "c": "30 + 12 = 42 in total.\nANSWER: 42",
    "d": "He sells some, so 12 + 30 + 2 = 44.\nANSWER: 44",
}


def test_the_line_names_each_result_and_who_gave_the_dissent() -> None:
    ranking = RANKER.score(MATH_Q, FOUR, NAMES)
    assert ranking.consensus == "3 of 4 answer 42; Llama answers 44."
    assert ranking.scores["a"].reason.startswith("3 of 4 agree on 42")
    assert ranking.scores["d"].reason.startswith("answers 44; 3 of 4 agree on 42")
    unanimous = RANKER.score(MATH_Q, {k: FOUR[k] for k in "abc"}, NAMES)
    assert unanimous.consensus == "All 3 answer 42."
    assert all(s.reason.startswith("3 of 3 agree on 42") for s in unanimous.scores.values())
    both = RANKER.score(MATH_Q, {k: FOUR[k] for k in "ab"}, NAMES)
    assert both.consensus == "Both answer 42."


def test_the_line_names_answers_without_a_result_and_splits_without_a_majority() -> None:
    unclear = {**FOUR, "d": "It depends on what the farmer does next with the herd."}
    line = RANKER.score(MATH_Q, unclear, NAMES).consensus
    assert line == "3 of 4 answer 42; Llama gives no clear result."
    split = {"a": FOUR["a"], "b": FOUR["d"], "c": "So 40.\nANSWER: 40"}
    ranking = RANKER.score(MATH_Q, split, NAMES)
    assert ranking.consensus == "No two agree: Gemini answers 40, Claude answers 42, GPT answers 44."
    assert ranking.disagree and ranking.scores["c"].reason.startswith("answers 40; no two answers agree")


def test_a_line_too_long_to_name_every_dissent_counts_them() -> None:
    answers = {f"m{i}": f"So {50 + i}.\nANSWER: {50 + i}" for i in range(6)} | {"x": FOUR["a"], "y": FOUR["b"]}
    names = {key: f"Model number {key} of the team" for key in answers}
    line = RANKER.score(MATH_Q, answers, names).consensus
    assert line == "2 of 8 answer 42; 6 other answers differ."


def test_a_result_is_never_a_bare_misread_number() -> None:
    answers = {
        "a": "Cutting CO2 from y2 onwards matters.\nANSWER: none",
        "b": "Version v2.0 changed it in 10-20 kg batches.",
        "c": "Step 2 is to measure again.",
    }
    ranking = RANKER.score("How much CO2 does a car emit per year?", answers, NAMES)
    shown = ranking.consensus + " ".join(s.reason for s in ranking.scores.values())
    assert not any(ch.isdigit() for ch in shown) and not ranking.disagree, shown


def test_without_a_result_the_line_says_what_is_shared_and_never_that_the_models_disagree() -> None:
    ranking = RANKER.score(OPEN_Q, OPEN, {"gpt": "GPT", "bard": "Bard", "llama": "Llama", "tiny": "Tiny"})
    assert ranking.consensus.startswith("The answers share: ") and ranking.consensus.endswith("Tiny declined.")
    assert not ranking.disagree and "disagree" not in ranking.consensus.lower()
    core = int(ranking.scores["gpt"].reason.split(" of the ")[1].split()[0])
    assert all(f"of the {core} shared points" in ranking.scores[k].reason for k in ("gpt", "bard", "llama"))
    assert ranking.scores["gpt"].reason.endswith("the fullest answer")
    assert ranking.scores["tiny"].reason == "declines to answer"
    apart = {
        "a": "Rust uses ownership and borrowing checked at compile time.",
        "b": "Garbage collectors trace reachable objects while programs run.",
    }
    unrelated = RANKER.score("How do languages manage memory?", apart)
    assert not unrelated.disagree and "share no point" in unrelated.consensus
    assert all("shared point" not in s.reason for s in unrelated.scores.values())

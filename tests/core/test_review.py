"""The card text: parsing the model's TL;DR/WHY block, and limits that hold whatever the input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain import SUMMARY_MAX_CHARS, SUMMARY_MAX_WORDS, WHY_MAX_CHARS, WHY_MAX_WORDS
from core.review import REVIEW_INSTRUCTIONS, clip_words, review_answer

BODY = "Paris is the capital of France. It has been since the 10th century."


def test_instructions_name_both_labels_and_limits() -> None:
    assert "TL;DR:" in REVIEW_INSTRUCTIONS and "WHY:" in REVIEW_INSTRUCTIONS
    assert str(SUMMARY_MAX_WORDS) in REVIEW_INSTRUCTIONS and str(WHY_MAX_WORDS) in REVIEW_INSTRUCTIONS


def test_plain_block_is_parsed_and_stripped() -> None:
    r = review_answer(f"{BODY}\n\nTL;DR: Paris.\nWHY: It is the seat of government.\n")
    assert r.body == BODY
    assert r.summary == "Paris."
    assert r.why == "It is the seat of government."


def test_bold_labels_other_case_and_separator_rule() -> None:
    text = f"{BODY}\n\n---\n**tl;dr:** **Paris** is the capital.  \n**Why**: Official records.   \n\n"
    r = review_answer(text)
    assert r.body == BODY
    assert r.summary == "Paris is the capital."
    assert r.why == "Official records."


def test_block_in_the_middle_keeps_the_text_after_it() -> None:
    r = review_answer(f"{BODY}\nTL;DR: Paris.\nWHY: Records.\nA closing remark.")
    assert r.summary == "Paris."
    assert r.why == "Records."
    assert r.body == f"{BODY}\nA closing remark."


def test_wrapped_summary_continues_on_the_next_line() -> None:
    r = review_answer(f"{BODY}\n\nTL;DR: Paris has been the capital\nsince the tenth century.\nWHY: History.")
    assert r.summary == "Paris has been the capital since the tenth century."
    assert r.why == "History."


def test_missing_why_is_none_and_summary_kept() -> None:
    r = review_answer(f"{BODY}\nTLDR: Paris.")  # "since the 10th century" is a time, not a reason
    assert (r.summary, r.why, r.body) == ("Paris.", None, BODY)


def test_missing_why_is_the_answers_first_sentence_that_gives_a_reason() -> None:
    text = (
        "A mutex has one owner.\n\n- Only the thread that locked it may unlock it, because the lock "
        "records its owner.\n- A semaphore counts.\nANSWER: a mutex\nTL;DR: Ownership versus counting."
    )
    r = review_answer(text)
    assert r.why == "Only the thread that locked it may unlock it, because the lock records its owner."
    long = "The result holds because " + "every one of the many careful steps agrees " * 5 + "in the end."
    assert (clipped := review_answer(long).why) is not None and clipped.endswith("…")
    assert len(clipped.split()) <= WHY_MAX_WORDS and len(clipped) <= WHY_MAX_CHARS


def test_the_models_own_why_wins_over_any_extract() -> None:
    r = review_answer("It works because of X.\nWHY: The manual says so.")
    assert r.why == "The manual says so."


def test_missing_block_gives_extractive_summary_from_leading_sentences() -> None:
    r = review_answer(f"# Answer\n\n**Paris** is the capital of France. {'More detail here. ' * 40}")
    assert r.summary.startswith("Paris is the capital of France.")
    assert r.why is None
    assert len(r.summary.split()) <= SUMMARY_MAX_WORDS


def test_only_why_still_gives_a_summary() -> None:
    r = review_answer(f"{BODY}\nWHY: Because.")
    assert r.summary.startswith("Paris is the capital")
    assert r.why == "Because."


def test_overlong_model_summary_is_cut_with_ellipsis() -> None:
    r = review_answer(f"{BODY}\nTL;DR: {'word ' * 80}\nWHY: {'reason ' * 40}")
    assert r.summary.endswith("…") and len(r.summary.split()) == SUMMARY_MAX_WORDS
    assert r.why is not None and r.why.endswith("…") and len(r.why.split()) <= WHY_MAX_WORDS


def test_clip_words_cuts_at_word_boundary() -> None:
    assert clip_words("one two three four", 3, 100) == "one two three…"
    assert clip_words("one two three four", 10, 12) == "one two…"
    assert clip_words("  a\n b  ", 10, 10) == "a b"
    assert clip_words("x" * 50, 5, 10) == "x" * 9 + "…"


def _within(text: str, words: int, chars: int) -> bool:
    return len(text.split()) <= words and len(text) <= chars


odd_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=3000) | st.lists(
    st.sampled_from(["x" * 400, "TL;DR:", "WHY:", "\n", " ", "**", "日本語", "é" * 90, "word"]), max_size=200
).map("".join)


@settings(max_examples=300, deadline=None)
@given(odd_text, odd_text, odd_text)
def test_limits_always_hold(body: str, tldr: str, why: str) -> None:
    for text in (body, f"{body}\nTL;DR: {tldr}\nWHY: {why}", f"TL;DR: {tldr}\n{body}\nWHY: {why}"):
        r = review_answer(text)
        assert _within(r.summary, SUMMARY_MAX_WORDS, SUMMARY_MAX_CHARS)
        assert r.why is None or (r.why and _within(r.why, WHY_MAX_WORDS, WHY_MAX_CHARS))
        if text.strip():
            assert r.summary


@given(st.text(max_size=500), st.integers(0, 60), st.integers(0, 400))
def test_clip_words_limits(text: str, words: int, chars: int) -> None:
    out = clip_words(text, words, chars)
    assert _within(out, words, chars)
    if _within(" ".join(text.split()), words, chars):
        assert out == " ".join(text.split())

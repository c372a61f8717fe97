"""The result reader: a table of written cases, each read right or not at all, and where it was read."""

from __future__ import annotations

import pytest

from core.ranking.results import ANSWER_LINE, BOXED, READER, final_result
from core.review import REVIEW_INSTRUCTIONS, review_answer

HOW_MANY = "How many apples does Sam have now?"
HOW_MUCH = "How much does the parcel weigh?"
WHEN = "When does the meeting start?"
YES_NO = "Is Python dynamically typed?"
CAPITAL = "What is the capital of France?"
ESSAY = "Describe the history of the printing press."

# (question, answer, what a person reads as its result; None where no result should be read)
CASES: list[tuple[str, str, str | None]] = [
    # The misreadings of issue 16.
    (HOW_MANY, "Sam has y2 apples.", None),
    (HOW_MANY, "Sam has 7 apples, and the air holds CO2.", "7"),
    (HOW_MANY, "He had 4 apples; trees absorb CO2", "4"),
    (HOW_MANY, "Sam ends up with 3 apples, says y2", "3"),
    (HOW_MUCH, "It weighs 10-20 kg.", "10–20"),
    (WHEN, "ANSWER: 2:00 pm", "2:00 pm"),
    (WHEN, "The meeting starts at 2:00 pm", "2:00 pm"),
    (HOW_MANY, "Solving gives x = 5/3", "5/3"),
    (HOW_MANY, "ANSWER: x = 5/3", "5/3"),
    (HOW_MANY, "The counts are 1,2,3", None),
    (HOW_MANY, "That is 1.5e3 apples", "1,500"),
    (HOW_MANY, "He has 12 apples; I used the v2.0 method", "12"),
    (HOW_MANY, "Sam has 9 apples. If you want the details, see Step 2", "9"),
    (HOW_MANY, "So Sam has eight apples.", "8"),
    (HOW_MANY, "ANSWER: eight", "8"),
    (HOW_MANY, "ANSWER: one", "1"),
    # Requests are never yes/no questions.
    ("Can you help me write a resignation letter?", "Yes! Here is a letter you can adapt: Dear …", None),
    ("Can you explain recursion?", "No problem. Recursion is when a function calls itself.", None),
    ("Could you write a haiku about rain?", "Yes, here it is: soft rain on the roof", None),
    ("Write a cover letter for a junior developer.", "Yes, here is one.", None),
    ("Help me plan a trip to Rome.", "Yes. Day 1: the Colosseum.", None),
    ("Would you summarise this article?", "No. It is too long to summarise.", None),
    ("Is it better to use tabs or spaces?", "Yes, spaces are more common.", None),
    # Real yes/no questions.
    (YES_NO, "Yes, Python is dynamically typed.", "Yes"),
    (YES_NO, "No problem, happy to explain: it checks types at run time.", None),
    (YES_NO, "No, it is not.", "No"),
    (YES_NO, "ANSWER: Yes", "Yes"),
    # The ANSWER line first, then a box, then the reader.
    (HOW_MANY, "Sam has 5, or maybe \\boxed{6}.\nANSWER: 7 apples", "7"),
    (HOW_MANY, "Working: 3 + 4 = 7.\n\\boxed{7}", "7"),
    (HOW_MANY, "He has \\boxed{\\frac{5}{3}} pies.", "5/3"),
    (HOW_MANY, "**ANSWER:** 42", "42"),
    (HOW_MANY, "12 + 30 = 42\nANSWER: 12 + 30 = 42", "42"),
    (HOW_MANY, "ANSWER: 42 apples (12 + 30)", "42"),
    (HOW_MANY, "ANSWER: 3 hours 20 minutes", None),
    (HOW_MANY, "ANSWER: none", None),
    (HOW_MUCH, "ANSWER: $1,200", "1,200"),
    (HOW_MUCH, "ANSWER: 25%", "25%"),
    ("Which option is right?", "ANSWER: (B)", "(B)"),
    ("Which option is right?", "I think the answer is (C) because it fits.", "(C)"),
    (CAPITAL, "ANSWER: Paris", "Paris"),
    (CAPITAL, "**Paris** is the capital of France.", "Paris"),
    (WHEN, "ANSWER: 2024-05-01", "2024-05-01"),
    (WHEN, "ANSWER: 14:30", "14:30"),
    (WHEN, "It starts at 9 am.", "9:00 am"),
    # Ordinary numbers still read.
    (HOW_MANY, "Sam had 12 and bought 30, so he has 42 apples.", "42"),
    (HOW_MANY, "The total is $1,234.50.", "1,234.5"),
    (HOW_MANY, "The balance falls to -36 apples.", "-36"),
    (HOW_MANY, "That makes 1.5 million apples.", "1,500,000"),
    (HOW_MANY, "He has twenty-one apples.", "21"),
    (HOW_MANY, "He now has 120k apples.", "120,000"),
    (HOW_MANY, "1.5 × 10^3 apples", "1,500"),
    (HOW_MANY, "42.", "42"),
    # Unsure reads nothing.
    (HOW_MANY, "Tips:\n14. Plan ahead.\n15. Maintain a positive attitude.", None),
    (HOW_MANY, "He uses a 3D printer and 5G.", None),
    (HOW_MANY, "The ratio is 3:1", None),
    (HOW_MANY, "It was on 15/01/2024", None),
    (ESSAY, "Gutenberg built his press around 1440, and by 1500 there were hundreds.", None),
    ("Estimate roughly how many piano tuners work in Chicago.", "About 125 tuners.", None),
]


@pytest.mark.parametrize(("question", "answer", "expected"), CASES)
def test_reader_table(question: str, answer: str, expected: str | None) -> None:
    result = final_result(question, answer)
    assert (result.shown if result else None) == expected, result


def test_the_table_covers_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


def test_each_result_says_where_it_was_read() -> None:
    line = final_result(HOW_MANY, "Maybe \\boxed{6}.\nANSWER: 7")
    boxed = final_result(HOW_MANY, "So \\boxed{6}.")
    read = final_result(HOW_MANY, "So he has 6.")
    assert line is not None and boxed is not None and read is not None
    assert (line.source, boxed.source, read.source) == (ANSWER_LINE, BOXED, READER)


def test_equal_results_written_differently_share_one_key() -> None:
    pairs = [("ANSWER: 2:00 pm", "It starts at 14:00"), ("ANSWER: 1.5e3", "1,500"), ("ANSWER: $42", "42 apples")]
    for one, other in pairs:
        a, b = final_result(WHEN if ":" in other else HOW_MANY, one), final_result(WHEN, other)
        b = b or final_result(HOW_MANY, other)
        assert a is not None and b is not None and a.key == b.key, (one, other)


def test_instructions_ask_for_the_answer_line_and_review_keeps_it_in_the_body() -> None:
    assert "ANSWER:" in REVIEW_INSTRUCTIONS
    reviewed = review_answer("Sam has 42 apples.\nANSWER: 42\nTL;DR: 42 apples.\nWHY: 12 + 30.")
    assert reviewed.body == "Sam has 42 apples.\nANSWER: 42"
    assert reviewed.summary == "42 apples." and reviewed.why == "12 + 30."
    after_why = review_answer("Sam has 42 apples.\nTL;DR: 42 apples\nWHY: 12 + 30\nANSWER: 42")
    assert after_why.why == "12 + 30" and after_why.body.endswith("ANSWER: 42")

"""Whether a numeric result is what the answer's own working computes."""

from __future__ import annotations

import pytest

from core.ranking.results import final_result
from core.ranking.working import follows_from_working, last_computed

HOW_MANY = "How many minutes will it take?"


@pytest.mark.parametrize(
    ("working", "expected"),
    [
        ("12 + 30 = 42 cows.", "n42"),
        ("x = 0.3 * 14 = 4.2, so round up.", "n4.2"),
        ("t \\approx \\frac{459}{0.85} \\approx 540\n540 seconds is 540 ÷ 60 = 9 minutes", "n9"),
        ("$90 - $200 = -$110", "n-110"),
        ("Total = 2592 + 432 + 864 + 7344", None),  # an expression reaches no single value
        ("if a == 3 and b <= 4: print(a)", None),  # comparisons in code compute nothing
        ("It takes about nine minutes.", None),
        ("459/51 = 8.98. So it takes 9 minutes.", "n8.98"),
    ],
)
def test_the_last_computation_is_the_value_its_clause_reaches(working: str, expected: str | None) -> None:
    assert last_computed(working) == expected


def test_a_result_follows_only_where_the_working_ends_on_it() -> None:
    assert follows_from_working("12 + 30 = 42", "n42") is True
    assert follows_from_working("0.3 * 14 = 4.2", "n5") is False
    assert follows_from_working("No sums at all.", "n5") is None


def test_a_result_says_whether_its_working_ends_on_it() -> None:
    checked = final_result(HOW_MANY, "12 + 30 = 42, so \\boxed{42}. Check: 42 - 30 = 12.")
    converted = final_result(HOW_MANY, "459 / 0.85 = 540 seconds, and 540 ÷ 60 = 9 minutes.\n\\boxed{540}")
    lined = final_result(HOW_MANY, "12 + 30 = 42.\nANSWER: 42\nTL;DR: 42.\nWHY: 42 - 30 = 12 checks it.")
    marked = final_result(HOW_MANY, "0.3 * 14 = 4.2, rounded up. The answer is 5.")
    bare = final_result(HOW_MANY, "It takes 42 minutes.")
    named = final_result("Is 42 even?", "Yes, 42 = 2 × 21.")
    assert checked is not None and checked.follows is True  # a check after the result is not its working
    assert converted is not None and converted.follows is False
    assert lined is not None and lined.follows is True  # the TL;DR and WHY lines are not the working
    assert marked is not None and marked.follows is False
    assert bare is not None and bare.follows is None
    assert named is not None and named.follows is None  # only numbers are computed

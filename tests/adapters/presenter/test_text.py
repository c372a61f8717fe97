"""Splitting loses nothing, prefers boundaries, and never cuts an escaped entity in two."""

from __future__ import annotations

from adapters.presenter.text import cut_point, split_exact


def test_split_exact_joins_back_and_respects_the_size() -> None:
    text = ("para one " * 30 + "\n\n" + "line two\n" * 40 + "x" * 700) * 3
    parts = split_exact(text, 200)
    assert "".join(parts) == text and all(len(p) <= 200 for p in parts)
    assert split_exact("", 10) == [""]


def test_cuts_fall_on_boundaries_and_not_inside_an_entity() -> None:
    assert cut_point("alpha beta gamma delta", 13) == len("alpha beta ")
    assert cut_point("first\n\nsecond third", 17) == len("first\n\n")
    assert cut_point("x" * 8 + "&amp;", 11) == 8  # "&am" would be left dangling

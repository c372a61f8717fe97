"""Text from people and models is stored and shown without control or invisible characters."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from core.text import remove_control_characters
from tests.invisible import SAMPLES, invisible


def test_every_control_and_format_character_is_removed() -> None:
    """All of Unicode's Cc and Cf, as this Python knows them, in one string."""
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if invisible(chr(c)))
    assert len(everything) > 200
    assert remove_control_characters(everything) == ""


def test_the_characters_seen_slipping_through_are_removed() -> None:
    for sample in SAMPLES:
        assert remove_control_characters(f"a{sample}b") == "ab", ascii(sample)


def test_text_people_write_is_kept_exactly() -> None:
    kept = "Line one\n\tindented é 🙂 👍🏽 ✂️ 日本語 עברית العربية Z̤͔ͧ a\u00a0b"
    assert remove_control_characters(kept) == kept
    assert remove_control_characters("a\r\nb") == "a\nb"  # Windows line ends become lines


@given(st.lists(st.one_of(st.sampled_from(SAMPLES), st.text(st.characters(codec="utf-8")))).map("".join))
def test_nothing_invisible_survives(text: str) -> None:
    cleaned = remove_control_characters(text)
    assert invisible(cleaned) == []
    assert remove_control_characters(cleaned) == cleaned

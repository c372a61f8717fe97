"""Escaping, Markdown → mrkdwn, and splitting that never loses a character."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.text import (
    ellipsize,
    escape,
    markdown_to_mrkdwn,
    paginate,
    split_text,
)
from tests.invisible import SAMPLES, invisible


def test_escape_ampersand_first_and_only_three_characters() -> None:
    assert escape("a & b < c > d \"q\" 'x'") == "a &amp; b &lt; c &gt; d \"q\" 'x'"
    assert escape("&lt;") == "&amp;lt;"  # already-looking entities are text too
    assert escape("<!channel> <@U123> <https://evil.example|innocent>") == (
        "&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil.example|innocent&gt;"
    )


def test_markdown_headings_bold_italic_links_lists() -> None:
    md = "## Plan **now**\nUse **bold**, *italic*, ~~old~~ and [docs](https://d.example/?a=1&b=2).\n- one\n* two"
    assert markdown_to_mrkdwn(md).split("\n") == [
        "*Plan now*",
        "Use *bold*, _italic_, ~old~ and docs (https://d.example/?a=1&amp;b=2).",
        "• one",
        "• two",
    ]


def test_links_show_where_they_go_and_cannot_hide_a_mention() -> None:
    out = markdown_to_mrkdwn("[click](https://evil.example) [<!here>](https://x.example)")
    assert "<" not in out and ">" not in out
    assert "click (https://evil.example)" in out
    assert "&lt;!here&gt; (https://x.example)" in out


def test_code_is_kept_but_escaped() -> None:
    md = "Run `a <@U1> **b**`:\n```python\nif a < b && c:\n    print('**x**')\n```"
    assert markdown_to_mrkdwn(md).split("\n") == [
        "Run `a &lt;@U1&gt; **b**`:",
        "```",
        "if a &lt; b &amp;&amp; c:",
        "    print('**x**')",
        "```",
    ]


def test_unclosed_code_fence_is_closed() -> None:
    assert markdown_to_mrkdwn("```\ncode").endswith("```")


def test_split_keeps_every_word_and_balances_fences() -> None:
    text = "intro " * 700 + "\n```\n" + "x = 1 &amp; y\n" * 400 + "```\nend"
    pieces = split_text(text, 3000)
    assert len(pieces) > 2
    assert all(len(p) <= 3000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)
    assert " ".join(pieces).replace("```", "").split() == text.replace("```", "").split()


def test_split_never_cuts_an_entity() -> None:
    text = "&amp;" * 2000  # no spaces at all: hard cuts
    pieces = split_text(text, 3000)
    assert "".join(pieces) == text


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <>&`\n#*_")), max_size=4000), st.integers(60, 400))
def test_split_loses_nothing(raw: str, limit: int) -> None:
    text = escape(raw)
    pieces = split_text(text, limit)
    assert all(len(p) <= limit for p in pieces)
    # each piece is a section of its own: a line break where it was cut
    assert "\n".join(pieces).replace("```", "").split() == text.replace("```", "").split()


def test_paginate_respects_budget_and_block_count() -> None:
    pages = paginate(["x" * 3000] * 9, budget=9000, max_blocks=40)
    assert [len(p) for p in pages] == [3, 3, 3]
    pages = paginate(["x"] * 90, budget=9000, max_blocks=40)
    assert [len(p) for p in pages] == [40, 40, 10]


def test_ellipsize_marks_the_cut() -> None:
    assert ellipsize("short", 10) == "short"
    cut = ellipsize("word " * 100, 50)
    assert cut.endswith("…") and len(cut) <= 50


def test_escape_drops_control_characters_and_bidi_overrides_but_keeps_lines() -> None:
    assert escape("a\x00b\x1b[31mc\u202ed\r\ne\tf\x7f") == "ab[31mcd\ne\tf"
    assert markdown_to_mrkdwn("**x\x00y**") == "*xy*"  # a NUL in an answer is not a bold mark


def test_indentation_of_a_list_item_carries_no_control_character() -> None:
    """Python's `\\s` matches \\x85, \\r and \\x1c-\\x1f: indentation is spaces and tabs only, and
    nothing reaches Slack that was not cleaned."""
    converted = markdown_to_mrkdwn("\x85- one\n\r- two\n\x1c\x1d\x1e\x1f- three\n \t\u2060\ufeff- four\n\x0b* five")
    assert converted == "• one\n• two\n• three\n \t• four\n• five"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.sampled_from([*SAMPLES, "- ", "* ", "# ", "```", "\n", " ", "\t", "x"]))).map("".join))
def test_nothing_invisible_reaches_slack_from_markdown(text: str) -> None:
    assert invisible(markdown_to_mrkdwn(text)) == []
    assert invisible(escape(text)) == []

"""The record's file name: the conversation's title, safe on any system, `.md`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.presenter.export import NAME_CHARS, file_name
from core.domain import ConversationDetail


def titled(title: str) -> ConversationDetail:
    return ConversationDetail(id=42, title=title, created_by="U1", created_at=datetime(2026, 1, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("What is 2+2?", "What-is-2-2.md"),
        ("../../etc/passwd", "etc-passwd.md"),
        ("C:\\Windows\\system32 | rm -rf / ; `id`", "C-Windows-system32-rm-rf-id.md"),
        ("..", "conversation-42.md"),
        ("<@U123> <!channel> ???", "U123-channel.md"),
        ("Café für Ａｌｌｅ", "Café-für-Alle.md"),  # letters stay, full-width folded
        ("tab\tnew\nline\x00nul", "tab-new-line-nul.md"),
        ("", "conversation-42.md"),
    ],
)
def test_the_file_name_is_the_titles_words_and_nothing_else(title: str, expected: str) -> None:
    assert file_name(titled(title)) == expected


def test_a_long_title_is_cut_short_and_never_ends_in_a_dash() -> None:
    name = file_name(titled("word " * 40))
    assert len(name) <= NAME_CHARS + len(".md") and name.endswith("word.md") and "--" not in name

"""The record file of Export: its name from the title, safe on any system, `.md`; the people it names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.presenter.export import NAME_CHARS, file_name
from adapters.presenter.record import markdown, people
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


def test_the_record_names_people_inertly_and_keeps_the_ids_it_cannot_name() -> None:
    conversation = ConversationDetail(
        id=7, title="Plan", created_by="U1", created_at=datetime(2026, 1, 2, tzinfo=UTC), batches=()
    )
    assert "started by **boss** <b>" not in markdown(conversation, {"U1": "**boss** <b>"})
    assert "started by \\*\\*boss\\*\\* &lt;b&gt;," in markdown(conversation, {"U1": "**boss** <b>"})
    assert "started by U1," in markdown(conversation, {"U2": "bob"})
    assert people(conversation) == {"U1"}

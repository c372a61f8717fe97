"""Text from people and models is stored clean: no control or invisible formatting characters."""

from __future__ import annotations

import re

# Unicode's control (Cc) and format (Cf) classes, tab and newline aside (they are how people
# write): C0/C1 controls, zero-width characters, soft hyphens, bidirectional marks, embeddings,
# overrides and isolates, invisible operators, tags and the like, which can hide or disguise what
# a message says. tests/core/test_text.py checks the ranges against Python's Unicode database.
_CONTROL = re.compile(
    "["
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
    "]"
)


def remove_control_characters(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n"))

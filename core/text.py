"""Text from people and models is stored clean: no control or invisible formatting characters."""

from __future__ import annotations

import re

# C0/C1 controls (tab and newline stay: they are how people write), zero-width characters and
# bidirectional overrides, which can disguise what a message says.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def remove_control_characters(text: str) -> str:
    return _CONTROL.sub("", text.replace("\r\n", "\n"))

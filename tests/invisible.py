"""What no text we send may hold: control and invisible formatting characters (Unicode classes Cc
and Cf), tab and newline aside. Shared by the tests of the core's cleaning and of both adapters."""

from __future__ import annotations

import unicodedata

# One of each kind that has slipped through before, and a few more of the same classes.
SAMPLES = [
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space (byte order mark)
    "\u00ad",  # soft hyphen
    "\u180e",  # Mongolian vowel separator
    "\u061c",  # Arabic letter mark (a direction mark)
    "\u2064",  # invisible plus
    "\u206a",  # inhibit symmetric swapping
    "\ufff9",  # interlinear annotation anchor
    "\U000e0001",  # language tag
    "\U000e0041",  # tag latin capital A
    "\x85",  # next line (C1)
    "\r",
    "\x1c\x1d\x1e\x1f",  # file, group, record, unit separators
    "\x0b\x0c",
]


def invisible(text: str, allowed: str = "\t\n") -> list[str]:
    """The code points of `text` in Cc or Cf, other than `allowed`."""
    return [f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cc", "Cf") and c not in allowed]

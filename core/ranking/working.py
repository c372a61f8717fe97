"""Whether a numeric result is what the answer's own working computes.

A worked answer shows its computations ("12 + 30 = 42", "t ≈ 540"); the value the last of them
reaches, before the answer states its result, is where its working ends. An answer that computes
540 ÷ 60 = 9 and then states 540, or computes 0.3 × 14 = 4.2 and then states 5, does not follow
from its own working: its result is weaker evidence than one its working reaches. A rounding counts
where the working writes it as a computation ("≈ 9"), not where it is only stated.
"""

from __future__ import annotations

import re

from core.ranking.reader import stated_value

# "=", "≈" or "\approx", not the comparisons "==", "<=", ">=", "!=" of code.
_COMPUTES = re.compile(r"(?<![=<>!])(?:=(?!=)|≈|\\approx\b)")
# What a computation reaches runs to the end of its clause: the next computation, line, sentence or comma.
_CLAUSE_END = re.compile(r"=|≈|\\approx\b|\n|;|[.,](?=\s|$)")
_CLAUSE_MAX = 60


def last_computed(working: str) -> str | None:
    """The key of the value the working's last computation reaches ("n42"), or None when no
    computation in it reaches a single value (an expression such as "= 12 + 30" reaches none)."""
    for match in reversed(list(_COMPUTES.finditer(working))):  # from the end: only the last one counts
        clause = working[match.end() : match.end() + _CLAUSE_MAX]
        end = _CLAUSE_END.search(clause)
        value = stated_value(clause[: end.start()] if end else clause)
        if value is not None:
            return value.key
    return None


def follows_from_working(working: str, key: str) -> bool | None:
    """True when the working's last computation reaches the result `key`, False when it reaches
    another value, None when the working computes nothing (no evidence either way)."""
    computed = last_computed(working)
    return None if computed is None else computed == key

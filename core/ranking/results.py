"""The checkable result an answer commits to: a number, yes/no, a choice, or a named entity.

Each result has a key for matching (normalised) and the form to show a person ("Paris", "120,000").
Open-ended answers have none, and that is the common case: a result is only read where the question
asks for one, so an essay is never reduced to its last number.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from core.ranking.features import STOP, terms


class Result(NamedTuple):
    key: str  # what agreement is decided on
    shown: str  # what a person reads in the why and the consensus line
    guessed: bool = False  # read off the opening words (a named thing), not stated as the answer


_NUMBER = re.compile(r"[-−]?\$?\d[\d,]*(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_FRAC = re.compile(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}")
_MARKED = re.compile(
    r"(?:final answer|the answer is|answer:|the result is)\s*[:=]?\s*\**\s*"
    r"([^\n.;!?]{1,40}?)\**\s*(?:[\n;!?]|\.(?!\d)|$)",
    re.IGNORECASE,
)
_NUMERIC_Q = re.compile(
    r"\b(?:how (?:many|much|long|far|old|fast)|what is the (?:value|total|sum|number|length|area|cost|price)"
    r"|calculate|compute|solve|find the value|evaluate)\b",
    re.IGNORECASE,
)
_ESTIMATE_Q = re.compile(r"\b(?:estimate|explain your answer|approximately|roughly|typical)\b", re.IGNORECASE)
_YESNO_Q = re.compile(r"^\s*(?:is|are|does|do|can|should|will|was|were|has|have|did|could|would)\b", re.I)
_YESNO_A = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)
_CHOICE = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-E])\)(?!\w)", re.IGNORECASE)
# A short question after one named thing: "What is the capital of…", "Who wrote…", "Which planet…".
_FACTOID_Q = re.compile(r"^\s*(?:who|which|where|when|in what|what (?:is|was)|what's|name)\b(?! if\b)", re.I)
_FACTOID_MAX_WORDS = 12
_BOLD = re.compile(r"\*\*([^*\n]{1,40})\*\*")
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|de|da|du|van|von|la|le|the)\s+)?[A-Z][\w'’-]*)*")
_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s|\n")


def _number(text: str) -> Result | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    raw = found[-1].replace(",", "").replace("$", "").replace("−", "-")
    try:
        value = float(raw)
    except ValueError:
        return None
    key = f"{value:.10g}"
    shown = f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else key
    return Result(key, shown)


def _fraction(num: str, den: str) -> str:
    try:
        return f"{float(num) / float(den):.10g}"
    except (ValueError, ZeroDivisionError):
        return f"{num}/{den}"


def _boxed(inner: str) -> Result | None:
    inner = _FRAC.sub(lambda m: _fraction(m.group(1), m.group(2)), inner)
    clean = re.sub(r"\\text\{[^{}]*\}|\\[a-z]+|[{}\s]", "", inner)
    return _number(clean) or (Result(clean.lower(), clean) if clean else None)


def _phrase(value: str) -> Result | None:
    words = terms(value)
    if not 0 < len(words) <= 4:
        return None
    return Result(" ".join(words), " ".join(value.split()))


def _entity(question: str, text: str) -> Result | None:
    """The named thing that opens the answer: a bold span, else the first capitalised run not asked."""
    asked = {w.lower() for w in re.findall(r"[^\W_]+", question)}
    first = next((s for s in _FIRST_SENTENCE.split(text.strip()) if s.strip()), "")
    bold = _BOLD.search(first)
    candidates = [bold.group(1)] if bold else []
    candidates += _CAPITALISED.findall(first.replace("*", ""))
    for candidate in candidates:
        words = [w for w in candidate.split() if re.split(r"['’]", w.lower())[0] not in STOP | asked]
        if words and len(words) <= 4:
            shown = " ".join(words).strip(".,:;!?")
            return Result(" ".join(terms(shown)) or shown.lower(), shown, guessed=True)
    return None


def final_result(question: str, text: str) -> Result | None:
    """The checkable result an answer commits to, or None for open-ended text.

    Explicit markers win (\\boxed{}, "final answer:", "the answer is", a lettered choice); then a
    yes/no opening for yes/no questions; then the last number, only for questions that ask for a
    figure and not an estimate (estimates never agree exactly); then, for short who/what/which
    questions, the named thing the answer opens with.
    """
    boxed = _BOXED.findall(text)
    if boxed:
        return _boxed(boxed[-1])
    lower = text.lower()  # cheap guards: the two marker patterns are slow to scan for
    has_answer = "answer" in lower
    choice = _CHOICE.findall(text) if has_answer or "option" in lower or "choice" in lower else []
    if choice:
        return Result(f"choice {choice[-1].upper()}", f"({choice[-1].upper()})")
    marked = _MARKED.findall(text) if has_answer or "result" in lower else []
    if marked:
        value = marked[-1].strip(" *_`")
        return _number(value) or _phrase(value)
    if _YESNO_Q.search(question):
        yes_no = _YESNO_A.search(text)
        if yes_no:
            return Result(yes_no.group(1).lower(), yes_no.group(1).capitalize())
    if _NUMERIC_Q.search(question):
        return None if _ESTIMATE_Q.search(question) else _number(text)
    if _FACTOID_Q.search(question) and len(question.split()) <= _FACTOID_MAX_WORDS:
        return _entity(question, text)
    return None

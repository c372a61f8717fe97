"""The checkable result an answer commits to: a number, yes/no, a choice, a time, or a named thing.

Each result has a key for matching (normalised), the form to show a person ("Paris", "120,000") and
where it was read: the model's ANSWER line first, then a boxed result, then the reader (stated
markers such as "the answer is", a yes/no opening, the last number of a worked answer, the named
thing a short question asks for). Open-ended answers have none, and that is the common case: a
result is only read where the question asks for one, so an essay is never reduced to its last
number. A reader that is unsure reads nothing rather than a wrong value.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from core.ranking.features import STOP, terms
from core.ranking.reader import last_value, normalise, stated_value
from core.ranking.working import follows_from_working
from core.review import answer_line, without_labelled_lines

ANSWER_LINE, BOXED, READER = "answer line", "boxed", "reader"  # where a result was read, best first


class Result(NamedTuple):
    key: str  # what agreement is decided on
    shown: str  # what a person reads in the why and the consensus line
    guessed: bool = False  # read off the opening words (a named thing), not stated as the answer
    source: str = READER  # ANSWER_LINE, BOXED or READER
    # A number: whether the answer's own working ends on it (None: no working, or not a number).
    follows: bool | None = None


_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_MARKED = re.compile(
    r"(?:final answer|the answer is|answer:|the result is)\s*[:=]?\s*\**\s*"
    r"([^\n;!?]{1,40}?)\**\s*(?:[\n;!?]|\.(?!\d)|$)",
    re.IGNORECASE,
)
_NUMERIC_Q = re.compile(
    r"\b(?:how (?:many|much|long|far|old|fast)|what is the (?:value|total|sum|number|length|area|cost|price)"
    r"|calculate|compute|solve|find the value|evaluate)\b",
    re.IGNORECASE,
)
_ESTIMATE_Q = re.compile(r"\b(?:estimate|explain your answer|approximately|roughly|typical)\b", re.IGNORECASE)
_YESNO_Q = re.compile(r"^\s*(?:is|are|does|do|can|should|will|was|were|has|have|did|could|would)\b", re.I)
# "Can you help me…", "Would you write…": a request for work, whatever its grammar; "A or B?" is a choice.
_REQUEST = re.compile(r"^\s*(?:can|could|would|will)\s+you\b|\bor\b(?!\s+not\b)", re.I)
# "No problem!" opens a reply without answering: a yes/no counts only when it stands on its own.
_YESNO_A = re.compile(r"^\W*(yes|no)\b(?=\s*(?:[,.!:;—–-]|$)|\s+(?:it|you|we|they|i|he|she|there|that|this)\b)", re.I)
_YESNO_VALUE = re.compile(r"^\W*(yes|no)\b\W*(?:\w+\W*){0,6}$", re.I)
_CHOICE = re.compile(r"(?:answer|option|choice)\s*(?:is|:)?\s*\(?([A-E])\)(?!\w)", re.IGNORECASE)
_CHOICE_VALUE = re.compile(r"^\W*(?:(?:option|choice)\s+)?\(?([A-E])\)?(?:[.:]\s.*)?\W*$", re.I | re.S)
_NO_RESULT = re.compile(r"^\W*(?:none|n/?a|not applicable|no single (?:answer|result)|-+|—)\W*$", re.I)
# A short question after one named thing: "What is the capital of…", "Who wrote…", "Which planet…".
_FACTOID_Q = re.compile(r"^\s*(?:who|which|where|when|in what|what (?:is|was)|what's|name)\b(?! if\b)", re.I)
_FACTOID_MAX_WORDS = 12
_WHEN_Q = re.compile(r"^\s*(?:when|(?:at|by) what time|what time|what date|on what (?:date|day))\b", re.I)
_BOLD = re.compile(r"\*\*([^*\n]{1,40})\*\*")
_CAPITALISED = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|de|da|du|van|von|la|le|the)\s+)?[A-Z][\w'’-]*)*")
_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s|\n")
_TEX = re.compile(r"\\text\{([^{}]*)\}|\\[a-z]+|[{}]")


def _number(text: str, source: str, *, stated: bool) -> Result | None:
    value = stated_value(text) if stated else last_value(text)
    return Result(value.key, value.shown, source=source) if value else None


def _stated(value: str, source: str) -> Result | None:
    """A result as stated on its own (an ANSWER line, a box, "the answer is …"); None when unsure."""
    value = value.strip(" *_`.")
    if not value or _NO_RESULT.match(value):
        return None
    boxed = _BOXED.findall(value)
    if boxed:
        value = _TEX.sub(lambda m: m.group(1) or "", normalise(boxed[-1])).strip()
    yes_no = _YESNO_VALUE.match(value)
    if yes_no:
        return Result(yes_no.group(1).lower(), yes_no.group(1).capitalize(), source=source)
    choice = _CHOICE_VALUE.match(value)
    if choice:
        letter = choice.group(1).upper()
        return Result(f"choice {letter}", f"({letter})", source=source)
    return _number(value, source, stated=True) or _phrase(value, source)


def _phrase(value: str, source: str) -> Result | None:
    """A short named result ("Paris", "the Treaty of Paris"); a digit in it is a number left unread."""
    words = terms(value)
    if not 0 < len(words) <= 4 or any(ch.isdigit() for ch in value):
        return None
    return Result(" ".join(words), " ".join(value.split()), source=source)


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


def _worked(result: Result | None, working: str) -> Result | None:
    """The result with whether the working before its statement ends on it (numbers only)."""
    if result is None or not result.key.startswith("n"):
        return result
    return result._replace(follows=follows_from_working(working, result.key))


def final_result(question: str, text: str) -> Result | None:
    """The checkable result an answer commits to, or None for open-ended text or an unsure read.

    The model's ANSWER line wins, then the last \\boxed{}; then the reader: a lettered choice or a
    stated marker ("final answer", "the answer is"); a yes/no opening for yes/no questions (never
    for requests); the last number, only for questions that ask for a figure and not an estimate
    (estimates never agree exactly); for short who/what/which questions, the named thing the
    answer opens with. A number also says whether the working before it ends on it.
    """
    line = answer_line(text)
    if line is not None:
        return _worked(_stated(line, ANSWER_LINE), without_labelled_lines(text))
    boxes = list(_BOXED.finditer(text))
    if boxes:
        working = _BOXED.sub(lambda m: m.group(1), text[: boxes[-1].end()])
        return _worked(_stated(f"\\boxed{{{boxes[-1].group(1)}}}", BOXED), working)
    lower = text.lower()  # cheap guards: the two marker patterns are slow to scan for
    has_answer = "answer" in lower
    choice = _CHOICE.findall(text) if has_answer or "option" in lower or "choice" in lower else []
    if choice:
        return Result(f"choice {choice[-1].upper()}", f"({choice[-1].upper()})")
    marked = list(_MARKED.finditer(text)) if has_answer or "result" in lower else []
    if marked:
        return _worked(_stated(marked[-1].group(1), READER), text[: marked[-1].end()])
    if _YESNO_Q.search(question) and not _REQUEST.search(question):
        yes_no = _YESNO_A.search(text)
        if yes_no:
            return Result(yes_no.group(1).lower(), yes_no.group(1).capitalize())
    if _NUMERIC_Q.search(question):
        return None if _ESTIMATE_Q.search(question) else _worked(_number(text, READER, stated=False), text)
    if _WHEN_Q.search(question):
        when = last_value(text)
        if when is not None and when.key[0] in "td":  # a time or a date, not the last number of the text
            return Result(when.key, when.shown)
    if _FACTOID_Q.search(question) and len(question.split()) <= _FACTOID_MAX_WORDS:
        return _entity(question, text)
    return None

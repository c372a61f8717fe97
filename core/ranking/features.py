"""Text features the consensus ranker is built from, standard library only.

Everything here works on *distinct* units (a set of terms and term pairs), so saying the same thing
twice adds nothing, and generic politeness ("I hope this helps") is treated as stop words.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Function words plus the vocabulary of generic filler and sign-offs: neither is substance.
_STOP = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each either etc even ever every few for from further get gets got had hadn has hasn have
    haven having he her here hers herself him himself his how however i if in into is isn it its
    itself just let ll me might more most much must mustn my myself need no nor not now of off often
    on once one only or other our ours ourselves out over own re really same shall she should
    shouldn so some such than that the their theirs them themselves then there these they this
    those through thus to too under until up upon us ve very via was wasn we well were weren what
    when where which while who whom whose why will with within without won would wouldn yes yet
    you your yours yourself yourselves s t d m o y
    sure certainly absolutely okay ok hello hi hey dear thanks thank thankyou please welcome glad
    happy hope hoping helps help helpful useful assist assistance questions question ask asking feel
    free know anything else further clarification clarify unclear great good nice wonderful luck
    best regards sincerely cheers enjoy appreciate appreciated wish wishes remember note overall
    conclusion summary summarize basically simply actually indeed course matter fact things thing
    something stuff way ways lot lots many various several kind kinds sort type types like just
    hopefully additional additionally furthermore moreover important importantly let's
    """.split()
)

_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am) (?:not (?:able|trained|programmed|designed|capable)|unable|sorry, but)"
    r"|i (?:can(?:no|')t|do not|don't) (?:help|assist|provide|answer|do that|have (?:access|the ability))"
    r"|as an ai(?: language model)?|i(?:'m| am) (?:just )?an? (?:ai|language model))",
    re.IGNORECASE,
)

_NUM = r"[-−]?\$?\d[\d,]*(?:\.\d+)?"
_NUMBER = re.compile(_NUM)
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


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude plural/tense folding: 'answers' and 'answer' are the same content unit."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Informative terms in order: lower-cased, stemmed, stop words and filler dropped."""
    out = []
    for raw in _WORD.findall(text.lower()):
        if raw in _STOP or (len(raw) < 2 and not raw.isdigit()):
            continue
        out.append(stem(raw))
    return out


def units(term_list: list[str]) -> frozenset[str]:
    """Distinct content units: informative terms and adjacent pairs of them."""
    pairs = (f"{a} {b}" for a, b in itertools.pairwise(term_list) if a != b)
    return frozenset(term_list).union(pairs)


_PIVOT = re.compile(r"\b(?:however|but (?:i|here|we)|that said|here(?:'s| is| are)|nevertheless)\b", re.I)


def is_refusal(text: str) -> bool:
    """Declines near the start and never pivots to an answer ("As an AI…, however, …" is fine)."""
    found = _REFUSAL.search(text[:300])
    return found is not None and not _PIVOT.search(text[found.end() : found.end() + 300])


def _number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    raw = found[-1].replace(",", "").replace("$", "").replace("−", "-")
    try:
        value = float(raw)
    except ValueError:
        return None
    return f"{value:.6g}"


def _clean_boxed(inner: str) -> str:
    inner = _FRAC.sub(lambda m: _fraction(m.group(1), m.group(2)), inner)
    return re.sub(r"\\text\{[^{}]*\}|\\[a-z]+|[{}\s]", "", inner)


def _fraction(num: str, den: str) -> str:
    try:
        return f"{float(num) / float(den):.6g}"
    except (ValueError, ZeroDivisionError):
        return f"{num}/{den}"


def final_result(question: str, text: str) -> str | None:
    """The checkable result an answer commits to, normalised, or None for open-ended text.

    Explicit markers win (\\boxed{}, "final answer:", "the answer is", a lettered choice); then
    a yes/no opening for yes/no questions; then the last number of the answer, but only
    for questions that ask for a figure and not for an estimate (estimates never agree exactly).
    """
    boxed = _BOXED.findall(text)
    if boxed:
        inner = _clean_boxed(boxed[-1])
        return _number(inner) or inner.lower() or None
    lower = text.lower()  # cheap guards: the two marker patterns are slow to scan for
    has_answer = "answer" in lower
    choice = _CHOICE.findall(text) if has_answer or "option" in lower or "choice" in lower else []
    if choice:
        return f"choice {choice[-1].upper()}"
    marked = _MARKED.findall(text) if has_answer or "result" in lower else []
    if marked:
        value = marked[-1].strip(" *_`")
        words = terms(value)
        return _number(value) or (" ".join(words) if 0 < len(words) <= 4 else None)
    if _YESNO_Q.search(question):
        yes_no = _YESNO_A.search(text)
        if yes_no:
            return yes_no.group(1).lower()
    if _NUMERIC_Q.search(question) and not _ESTIMATE_Q.search(question):
        return _number(text)
    return None


def saturate(x: float, scale: float) -> float:
    """0 at 0, rising with diminishing returns towards 1: more content helps, less and less."""
    return 1.0 - math.exp(-max(x, 0.0) / scale)


@dataclass(frozen=True, slots=True)
class Features:
    units: frozenset[str]
    distinct_terms: int
    result: str | None
    refusal: bool

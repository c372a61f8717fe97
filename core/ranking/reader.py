"""Reading a number, a range, a time or a date out of text. A reader that is unsure reads nothing.

Each token is read whole, with what touches it: "CO2", "y2" and "v2.0" are names, not 2; "10-20"
is a range, "2:00 pm" a time, "5/3" a fraction, "1.5e3" is 1500; "1,2,3" is a list, not 123, so
it reads nothing. A number right after a label word ("Step 2", "Figure 3") or opening a numbered
list item ("15. Stay positive") is a label, not a value.
Number words ("eight", "twenty-one") count too; "one" only in a stated value, since in running
text it is as often a pronoun.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Value(NamedTuple):
    key: str  # what agreement is decided on: "n42", "r10..20", "t14:00", "d2024-05-01"
    shown: str  # what a person reads: "42", "10–20", "2:00 pm", "2024-05-01"


# Units that may be glued to a number ("20kg"); as written, since "5G" and "3D" are not quantities.
_UNITS = frozenset(
    "k kg g mg km m cm mm s ms h hr hrs min L l ml mL lb lbs oz ft mi mph kph KB MB GB TB W kW kWh V".split()
)
_MULTIPLIERS = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3}
_LABELS = frozenset(
    """step steps part section chapter figure fig table equation eq item case version rule question
    problem exercise example method approach round phase stage line page paragraph appendix note
    footnote level option""".split()
)
_SMALL = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
_SMALL += "sixteen seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_WORD_VALUES = {w: i for i, w in enumerate(_SMALL)} | {w: 20 + 10 * i for i, w in enumerate(_TENS)}

# A token: optional sign (only where no digit or letter precedes it), currency, a run of digits and
# the separators a number, range, time or date uses, then whatever letters are glued to it.
_TOKEN = re.compile(
    r"(?<![\w.,/:^])(?P<sign>(?<![\w)])[-−])?(?P<cur>[$€£])?"
    r"(?P<body>\d(?:[\d,.:/–-]*\d)?(?:[eE][-+]?\d+)?)(?P<pct>%)?"
    r"(?P<glued>[A-Za-z°]+)?(?![\w])"
)
_TENS_WORD = "|".join(_TENS)
_SMALL_WORD = "|".join(_SMALL)
_WORD_TOKEN = re.compile(
    rf"\b(?:(?P<tens>{_TENS_WORD})(?:[- ](?P<unit>{_SMALL_WORD}))?|(?P<small>{_SMALL_WORD}))\b", re.IGNORECASE
)
_FOLLOWING_MULTIPLIER = re.compile(r"\s+(hundred|thousand|million|billion|trillion)\b", re.I)
_MERIDIEM = re.compile(r"\s*([ap])\.?\s?m\b\.?", re.I)
_POWER_OF_TEN = re.compile(r"(\d)\s*(?:[x×*]|\\times)\s*10\s*\^\s*\{?\s*([-−]?\d+)(?:\s*\})?")
_TEX_FRACTION = re.compile(r"\\d?frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}")
_SPACED_FRACTION = re.compile(r"(?<![\d.])(\d+)\s+/\s+(\d+)(?![\d.])")
_PLAIN = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PREVIOUS_WORD = re.compile(r"([A-Za-z]+)\.?\s*#?\s*$")
_LIST_MARKER_END = re.compile(r"[.)][ \t]+\S")  # "15. Stay positive", not a bare "42."


def _plain(text: str) -> float | None:
    return float(text.replace(",", "")) if _PLAIN.fullmatch(text) else None


def _number_value(value: float, shown: str) -> Value:
    key = f"n{value:.10g}"
    if not shown:
        shown = f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else f"{value:,.10g}"
    return Value(key, shown)


def _read_token(match: re.Match[str], text: str) -> Value | None:
    """One token as a value, or None where it is a name, a label, a list or anything unsure."""
    body, glued = match.group("body"), match.group("glued") or ""
    negative = match.group("sign") is not None
    after = text[match.end() :]
    meridiem = _MERIDIEM.match(after) if not glued else None
    if glued.lower() in ("am", "pm") or (meridiem and (":" in body or body.isdigit())):
        half = glued[:1].lower() if glued else meridiem.group(1).lower() if meridiem else ""
        return _time(body, half)
    if glued and glued not in _UNITS and glued[:-1] not in _UNITS:
        return None  # "3D", "5G", "2x", "1st": not a quantity this reader can compare
    if ":" in body:
        return _time(body, "")
    if _DATE.fullmatch(body):
        return Value(f"d{body}", body)
    if "-" in body or "–" in body:
        parts = [_plain(p) for p in re.split(r"[-–]", body)]
        if len(parts) != 2 or None in parts:
            return None
        low, high = parts
        return Value(f"r{low:.10g}..{high:.10g}", body.replace("-", "–"))
    if "/" in body:
        parts = [_plain(p) for p in body.split("/")]
        if len(parts) != 2 or parts[0] is None or not parts[1]:
            return None
        ratio = (-1 if negative else 1) * parts[0] / parts[1]
        return Value(f"n{ratio:.10g}", ("-" if negative else "") + body)
    plain = _plain(body)
    if plain is None:
        return None
    multiplier = _MULTIPLIERS.get(glued)
    following = _FOLLOWING_MULTIPLIER.match(after) if not glued else None
    if following:
        multiplier = _MULTIPLIERS[following.group(1).lower()]
    value = (-1 if negative else 1) * plain * (multiplier or 1)
    return _number_value(value, f"{_number_value(value, '').shown}%" if match.group("pct") else "")


def _time(body: str, half: str) -> Value | None:
    parts = _TIME.fullmatch(body)
    if parts:
        hour, minute = int(parts.group(1)), int(parts.group(2))
    elif body.isdigit():
        hour, minute = int(body), 0
    else:
        return None
    if not (0 <= hour <= 23 and minute < 60) or (half and not 1 <= hour <= 12):
        return None
    if half:
        hour = hour % 12 + (12 if half == "p" else 0)
    shown = f"{hour % 12 or 12}:{minute:02d} {'pm' if hour >= 12 else 'am'}" if half else f"{hour}:{minute:02d}"
    return Value(f"t{hour:02d}:{minute:02d}", shown)


def normalise(text: str) -> str:
    """Spellings of one number folded into one token: \\frac{5}{3}, 5 / 3 and 1.5 × 10^3."""
    text = _TEX_FRACTION.sub(r"\1/\2", text)
    text = _SPACED_FRACTION.sub(r"\1/\2", text)
    return _POWER_OF_TEN.sub(lambda m: f"{m.group(1)}e{m.group(2).replace('−', '-')}", text)


def _opens_list_item(text: str, match: re.Match[str]) -> bool:
    line_start = text.rfind("\n", 0, match.start()) + 1
    return not text[line_start : match.start()].strip(" \t>*_#") and bool(_LIST_MARKER_END.match(text, match.end()))


def values(text: str, *, stated: bool = False) -> list[Value | None]:
    """Every number-like token in order: its value, or None where the token is unsure.

    Labels ("Step 2") are skipped entirely: they neither read nor make the reading unsure.
    """
    text = normalise(text)
    found: list[tuple[int, Value | None]] = []
    for match in _TOKEN.finditer(text):
        previous = _PREVIOUS_WORD.search(text, 0, match.start())
        if previous and previous.group(1).lower() in _LABELS and not match.group("sign"):
            continue
        if _opens_list_item(text, match):
            continue
        found.append((match.start(), _read_token(match, text)))
    for match in _WORD_TOKEN.finditer(text):
        word = match.group(0).lower()
        if word == "one" and not stated:
            continue
        value = _WORD_VALUES[(match.group("tens") or match.group("small")).lower()]
        value += _WORD_VALUES[match.group("unit").lower()] if match.group("unit") else 0
        following = _FOLLOWING_MULTIPLIER.match(text, match.end())
        number = float(value * (_MULTIPLIERS[following.group(1).lower()] if following else 1))
        found.append((match.start(), _number_value(number, "")))
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def last_value(text: str) -> Value | None:
    """The last number-like token of running text (a worked answer ends on its result)."""
    found = values(text)
    return found[-1] if found else None


def stated_value(text: str) -> Value | None:
    """The one value a stated result holds ("42 cows", "x = 5/3", "$1,200"), else None.

    A worked line ("12 + 30 = 42") states what follows its last "="; an aside in brackets is not
    the result; two different values ("3 hours 20 minutes") are unsure.
    """
    text = re.sub(r"\([^()]*\)|\[[^\[\]]*\]", " ", text).rpartition("=")[2]
    found = values(text, stated=True)
    distinct = set(found)
    if len(distinct) != 1 or None in distinct:
        return None
    return found[0]

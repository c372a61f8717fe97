"""What a person reads: each card's why and the batch's consensus line, in words they wrote.

Numbers in the why are counts a reader can check on the cards ("2 of 3", "4 of 5 shared points"),
results are shown as the answers wrote them ("Paris", "120,000"), never as internal folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS
from core.ranking.results import Result
from core.review import clip_words

LINE_MAX_WORDS = 30
LINE_MAX_CHARS = 200


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def result_part(result: Result | None, n: int, counts: Counter[str], shown: Mapping[str, str]) -> str:
    """How this answer's result stands against the others'."""
    top, top_count = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if result is None:
        return f"No clear answer; {top_count} of {n} say {shown[top]}"
    mine = counts[result.key]
    if mine >= 2:
        return f"Same answer ({result.shown}) as {mine} of {n}"
    if top_count >= 2:
        return f"Says {result.shown}; {top_count} of {n} say {shown[top]}"
    return f"Says {result.shown}; no other answer agrees"


def coverage_part(covered: int, core: int) -> str:
    return f"covers {covered} of {_plural(core, 'shared point')}"


def detail_part(ratio: float, n: int) -> str:
    """Substance relative to the fullest answer of the batch (distinct informative sentences)."""
    if n < 2:
        return "nothing to compare"
    if ratio >= 0.999:
        return "fullest answer"
    if ratio >= 0.75:
        return "nearly as full as the fullest"
    if ratio >= 0.35:
        return "about half as full as the fullest"
    return "much briefer than the fullest"


def sentence(parts: list[str]) -> str:
    text = "; ".join(p for p in parts if p)
    return clip_words(text[:1].upper() + text[1:] + ".", WHY_MAX_WORDS, WHY_MAX_CHARS)


def _listing(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def result_line(n: int, counts: Counter[str], shown: Mapping[str, str], unclear: int, declined: int) -> str:
    """The batch's results, e.g. '2 of 3 agree on Paris; Lyon differs.'"""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    (top, count), rest = ordered[0], ordered[1:]
    others = [shown[key] for key, _ in rest[:4]]
    if count < 2:
        line = f"No two answers agree: {_listing([shown[top], *others])}."
    elif count == n:
        line = f"All {n} answers agree on {shown[top]}."
    else:
        line = f"{count} of {n} agree on {shown[top]}"
        if others:
            line += f"; {_listing(others)} {'differs' if len(others) == 1 else 'differ'}"
        if unclear:
            line += f"; {_plural(unclear, 'answer')} {'gives' if unclear == 1 else 'give'} no clear answer"
        line += "."
    if declined:
        line += f" {_plural(declined, 'model')} declined."
    return clip_words(line, LINE_MAX_WORDS, LINE_MAX_CHARS)


def open_line(n: int, common: list[str]) -> str:
    if n < 2:
        return "Only one answer; nothing to compare."
    if not common:
        return "Little common ground: the answers take different directions."
    line = f"Common ground: {_listing(common)}; they differ in detail and emphasis."
    return clip_words(line, LINE_MAX_WORDS, LINE_MAX_CHARS)

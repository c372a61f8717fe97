"""What a person reads from the free ranking: each rank's reason and the batch's consensus line.

A rank's reason says what decided the rank, in counts a reader can check on the cards ("3 of 3
agree on 42", "covers 5 of the 7 shared points"). The consensus line names the results and who
gave them ("3 of 4 answer 42; Llama answers 44."); without a result it says only what the
vocabulary can say ("The answers share: ownership, counting, signalling."), never that the models
disagree. Results are shown as the answers wrote them ("Paris", "120,000"), never as internal folds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from core.domain import WHY_MAX_CHARS, WHY_MAX_WORDS
from core.review import clip_words

LINE_MAX_WORDS = 30
LINE_MAX_CHARS = 200
ONLY_ANSWER = "only answer, nothing to compare"
DECLINES = "declines to answer"
EMPTY = "empty answer"
FULLER, UNWORKED = "fuller", "unworked"  # why a majority of one was outweighed by a dissent


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _listing(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _top(counts: Counter[str]) -> tuple[str, int]:
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))


# ---- the rank's reason ---------------------------------------------------------------------------


def result_reason(
    mine: str | None, m: int, counts: Counter[str], shown: Mapping[str, str], *, contested: str | None
) -> str:
    """How this answer's result (its key, or None when it gives none) stands against the others'.

    `contested`: why a majority of one was outweighed (FULLER or UNWORKED), None where it stands."""
    top, top_count = _top(counts)
    majority = f"{top_count} of {m} agree on {shown[top]}" if top_count >= 2 else "no two answers agree"
    if mine is None:
        return f"no clear result; {majority}"
    if contested == FULLER:  # a majority of one against a much fuller dissent: substance decided
        if mine == top:
            return f"{majority}, but a much fuller answer differs"
        return f"answers {shown[mine]}, with much fuller working than the {top_count} on {shown[top]}"
    if contested == UNWORKED:  # the majority's working ends elsewhere: substance decided
        if mine == top:
            return f"{majority}, but their working does not end on it"
        return f"answers {shown[mine]}, where its working ends; the {top_count} on {shown[top]} do not"
    if counts[mine] >= 2:
        return f"{counts[mine]} of {m} agree on {shown[mine]}"
    if top_count >= 2:
        return f"answers {shown[mine]}; {majority}"
    return f"answers {shown[mine]}; no two answers agree"


def coverage_reason(covered: int, core: int) -> str:
    return f"covers {covered} of the {core} shared points" if core != 1 else f"covers {covered} of 1 shared point"


def detail_reason(ratio: float) -> str:
    """Substance relative to the fullest answer of the batch (distinct informative sentences)."""
    if ratio >= 0.999:
        return "the fullest answer"
    if ratio >= 0.75:
        return "nearly as full as the fullest"
    if ratio >= 0.35:
        return "about half as full as the fullest"
    return "much briefer than the fullest"


def reason(parts: Sequence[str]) -> str:
    """One short reason from its parts, within the card's limits (lower case: it follows "#2 · ")."""
    return clip_words("; ".join(p for p in parts if p), WHY_MAX_WORDS, WHY_MAX_CHARS)


# ---- the consensus line ----------------------------------------------------------------------------


def _answers(names: Sequence[str], what: str) -> str:
    """ "Llama answers 44", "Llama and Claude answer 44"."""
    return f"{_listing(names)} {'answers' if len(names) == 1 else 'answer'} {what}"


def result_line(
    results: Mapping[str, str | None], shown: Mapping[str, str], names: Mapping[str, str], declined: Sequence[str]
) -> str:
    """The batch's results and who gave them, e.g. '3 of 4 answer 42; Llama answers 44.'

    `results`: each answer taking part (key) and its result's key, None where it gives none;
    `declined`: the keys of answers that refused or were empty. Where naming every dissent would
    not fit the line, the dissents are counted instead.
    """
    counts = Counter(r for r in results.values() if r is not None)
    m = len(results)
    top, top_count = _top(counts)
    groups: dict[str | None, list[str]] = {}
    for key in sorted(results, key=lambda k: names[k]):
        groups.setdefault(results[key], []).append(names[key])
    others = sorted((r for r in counts if r != top), key=lambda r: (-counts[r], r))
    unclear = groups.get(None, [])
    refused = f" {_listing([names[k] for k in sorted(declined, key=lambda k: names[k])])} declined." if declined else ""

    if top_count < 2:
        head = "No two agree: " + ", ".join(_answers(groups[r], shown[r]) for r in [top, *others])
        tail = [f"{_listing(unclear)} {'gives' if len(unclear) == 1 else 'give'} no clear result"] if unclear else []
    else:
        head = f"Both answer {shown[top]}" if top_count == m == 2 else f"All {m} answer {shown[top]}"
        if top_count < m:
            head = f"{top_count} of {m} answer {shown[top]}"
        tail = [_answers(groups[r], shown[r]) for r in others]
        if unclear:
            tail.append(f"{_listing(unclear)} {'gives' if len(unclear) == 1 else 'give'} no clear result")
    line = "; ".join([head, *tail]) + "." + refused
    if len(line.split()) <= LINE_MAX_WORDS and len(line) <= LINE_MAX_CHARS:
        return line
    # Too many dissents to name: count them.
    rest = m - top_count
    counted = f"{top_count} of {m} answer {shown[top]}; {_plural(rest, 'other answer')} differ"
    if top_count < 2:
        counted = f"No two of {m} answers agree"
    return clip_words(counted + "." + refused, LINE_MAX_WORDS, LINE_MAX_CHARS)


def open_line(n: int, common: Sequence[str], declined: Sequence[str] = ()) -> str:
    """Without a result to compare, what the vocabulary can say: the points the answers share."""
    if n < 2:
        return "Only one answer; nothing to compare."
    if common:
        line = f"The answers share: {', '.join(common)}."
    else:
        line = "The answers share no point beyond the question's own words; compare them by reading."
    if declined:
        line += f" {_listing(declined)} declined."
    return clip_words(line, LINE_MAX_WORDS, LINE_MAX_CHARS)

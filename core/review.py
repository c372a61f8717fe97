"""Each answer's card text: the model's own TL;DR and WHY lines, or a local extract when missing.

The card's why is the model's own WHY line; the ranking never replaces it (the rank's reason is
stored apart). Without a WHY line, the why is the answer's first sentence that gives a reason.

Models are asked to end with labelled lines: an ANSWER line where the question has one checkable
result, then TL;DR and WHY. The ANSWER line stays in the body (it is part of the answer, and the
ranker reads the result from it); TL;DR and WHY are taken out for the card. Models drift (bold
labels, other case, a block in the middle, one line missing), so the parser is lenient about form
and strict about limits: what leaves this module always fits the card, whoever wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.domain import SUMMARY_MAX_CHARS, SUMMARY_MAX_WORDS, WHY_MAX_CHARS, WHY_MAX_WORDS
from core.text import remove_control_characters

REVIEW_INSTRUCTIONS = f"""\
After your answer, end with these lines and nothing after them:
ANSWER: <the result alone, e.g. 42, Yes, (B), Paris, 2024-05-01, 2:00 pm>
TL;DR: <your answer in at most {SUMMARY_MAX_WORDS} words>
WHY: <in at most {WHY_MAX_WORDS} words, why this answer is right>
Write the ANSWER line only where the question has one checkable result (a number, yes or no, a \
choice, a name, a date or a time); leave it out otherwise. Write each line on a single line, in \
plain text, with the labels exactly as shown."""

ELLIPSIS = "…"

_DECOR = r"[\s*_#>`~\-•|]*"
_SEP = r"\s*[*_]*\s*(?:[:：]|[-–—](?=\s))\s*[*_]*\s*"
_TLDR = re.compile(rf"^{_DECOR}(?:tl\s*;?\s*dr|summary)[*_]*{_SEP}(?P<v>.*)$", re.IGNORECASE)
_WHY = re.compile(rf"^{_DECOR}why(?: (?:it(?:'s| is)|this is) right)?[*_]*{_SEP}(?P<v>.*)$", re.IGNORECASE)
_ANSWER = re.compile(rf"^{_DECOR}(?:final )?answer[*_]*{_SEP}(?P<v>.*\S.*)$", re.IGNORECASE)
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_EMPHASIS = re.compile(r"(\*\*|__|`)(.+?)\1")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A sentence that gives a reason: what a why extracted from the answer must be.
_REASON = re.compile(
    r"\b(?:because|therefore|thus|hence|so that|which means|this means|due to|as a result|"
    r"the reason|that is why|this is why|ensures?|guarantees?)\b",
    re.IGNORECASE,
)
_MAX_CONTINUATION = 3


@dataclass(frozen=True)
class Reviewed:
    body: str  # the answer without the TL;DR/WHY block
    summary: str  # ≤ SUMMARY_MAX_WORDS words and ≤ SUMMARY_MAX_CHARS chars; empty only for an empty answer
    why: str | None  # ≤ WHY_MAX_WORDS words and ≤ WHY_MAX_CHARS chars: the WHY line, else an extract; or None


def clip_words(text: str, max_words: int, max_chars: int) -> str:
    """Whitespace-normalised text within both limits, cut at a word boundary, "…" when cut."""
    words = text.split()
    joined = " ".join(words)
    if len(words) <= max_words and len(joined) <= max_chars:
        return joined
    if max_words < 1 or max_chars < 1:
        return ""
    kept: list[str] = []
    size = 0
    for word in words[:max_words]:
        extra = len(word) + (1 if kept else 0)
        if size + extra + len(ELLIPSIS) > max_chars:
            break
        kept.append(word)
        size += extra
    if not kept:  # a first word longer than the limit: cut inside it
        return words[0][: max_chars - len(ELLIPSIS)] + ELLIPSIS
    out = " ".join(kept).rstrip(",;:–—-")
    return (out or kept[0]) + ELLIPSIS


def _clean(value: str) -> str:
    """The value of a labelled line without markdown emphasis or wrapping quotes."""
    value = _EMPHASIS.sub(r"\2", " ".join(value.split())).strip("*_`~ ")
    if len(value) >= 2 and value[0] in "\"'“" and value[-1] in "\"'”":
        value = value[1:-1].strip()
    return value


def _field(lines: list[str], pattern: re.Pattern[str], labels: tuple[re.Pattern[str], ...]) -> tuple[str, set[int]]:
    """The last line with this label, plus up to 3 continuation lines; and the line numbers used."""
    start = next((i for i in range(len(lines) - 1, -1, -1) if pattern.match(lines[i])), None)
    if start is None:
        return "", set()
    match = pattern.match(lines[start])
    parts = [match.group("v")] if match else []
    used = {start}
    for i in range(start + 1, min(start + 1 + _MAX_CONTINUATION, len(lines))):
        line = lines[i]
        ended = parts[-1].rstrip("*_` ").endswith((".", "!", "?"))
        if ended or not line.strip() or _RULE.match(line) or any(p.match(line) for p in labels):
            break
        parts.append(line)
        used.add(i)
    return _clean(" ".join(parts)), used


def _strip_markdown(text: str) -> str:
    text = _FENCE.sub(" ", text)
    text = re.sub(r"^\s{0,3}#{1,6}\s.*$", "", text, flags=re.MULTILINE)  # headings are not sentences
    text = re.sub(r"^\s{0,3}(?:>|[-*+•]|\d+[.)])\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"[*_`]{1,3}(\S(?:.*?\S)?)[*_`]{1,3}", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return text


def extract_summary(text: str) -> str:
    """Leading sentences of the answer up to the word limit: a local summary, no model call."""
    plain = " ".join(_strip_markdown(text).split()) or " ".join(text.split())
    chosen: list[str] = []
    count = 0
    for sentence in _SENTENCE_END.split(plain):
        n = len(sentence.split())
        if chosen and count + n > SUMMARY_MAX_WORDS:
            break
        chosen.append(sentence)
        count += n
    return clip_words(" ".join(chosen), SUMMARY_MAX_WORDS, SUMMARY_MAX_CHARS)


def extract_why(body: str) -> str | None:
    """The answer's first sentence that gives a reason ("…, because …"), within the why's limits: the
    local why when the model wrote no WHY line. None when no sentence gives one: a why that is only
    the answer again would say nothing."""
    lines = [line for line in body.splitlines() if not _ANSWER.match(line)]
    plain = " ".join(_strip_markdown("\n".join(lines)).split())
    for sentence in _SENTENCE_END.split(plain):
        if _REASON.search(sentence) and len(sentence.split()) >= 3:
            return clip_words(sentence, WHY_MAX_WORDS, WHY_MAX_CHARS)
    return None


def answer_line(text: str) -> str | None:
    """The value of the answer's last ANSWER line (its checkable result as the model states it)."""
    for line in reversed(text.splitlines()):
        match = _ANSWER.match(line)
        if match:
            return _clean(match.group("v"))
    return None


def without_labelled_lines(text: str) -> str:
    """The answer without its ANSWER, TL;DR and WHY lines: what it says before it sums up."""
    labels = (_TLDR, _WHY, _ANSWER)
    return "\n".join(line for line in text.splitlines() if not any(p.match(line) for p in labels))


def review_answer(text: str) -> Reviewed:
    """Split an answer into body, summary and why; every field within the card's limits."""
    lines = remove_control_characters(text).splitlines()
    labels = (_TLDR, _WHY, _ANSWER)  # a label ends the line before it, so TL;DR never swallows ANSWER
    summary, tldr_lines = _field(lines, _TLDR, labels)
    why, why_lines = _field(lines, _WHY, labels)
    used = tldr_lines | why_lines
    if used:
        first = min(used)
        if first > 0 and _RULE.match(lines[first - 1]):
            used.add(first - 1)
    body = "\n".join(line for i, line in enumerate(lines) if i not in used).strip()
    if not summary:
        summary = extract_summary(body or why) or extract_summary(text)
    clipped = clip_words(summary, SUMMARY_MAX_WORDS, SUMMARY_MAX_CHARS)
    return Reviewed(
        body=body or clipped,
        summary=clipped,
        why=clip_words(why, WHY_MAX_WORDS, WHY_MAX_CHARS) or extract_why(body),
    )

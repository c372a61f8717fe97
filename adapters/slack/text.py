"""Text for Slack: escaping, Markdown → mrkdwn, and splitting that never drops a character.

Slack treats `&`, `<` and `>` as control characters: `<!channel>`, `<@U123>` and
`<https://evil|innocent>` all start with `<`. Everything we did not write ourselves (questions,
model answers, error strings, labels) goes through `escape` before it reaches a text object.
"""

from __future__ import annotations

import re

from adapters.presenter.text import cut_point, safe_cut
from core.text import remove_control_characters

SECTION_LIMIT = 3000  # characters in one mrkdwn text object
MESSAGE_BUDGET = 11_000  # characters of text we put in one message (Slack's cumulative cap is ~12k)
FALLBACK_LIMIT = 3000  # the top-level `text` of a message: a notification, not the content

_FENCE = "```"


def escape(text: str) -> str:
    """Escape Slack's three control characters (`&` first, so nothing is escaped twice) and drop
    control characters."""
    text = remove_control_characters(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int) -> str:
    """A short single-line label for a plain_text object (buttons, headers); marks any cut with …."""
    flat = " ".join(remove_control_characters(text).split()) or "-"
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def ellipsize(text: str, limit: int) -> str:
    """Shorten `text` visibly (never silently) to at most `limit` characters, on a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return safe_cut(cut) + "…"


def ellipsize_start(text: str, limit: int) -> str:
    """The end of escaped `text` in at most `limit` characters, marked with a leading …, never
    starting inside an entity (a streamed preview shows what arrived last)."""
    if len(text) <= limit:
        return text
    start = len(text) - (limit - 1)
    amp = text.rfind("&", max(0, start - 4), start)  # an entity has at most 5 characters
    if amp != -1 and (end := text.find(";", amp, amp + 5)) >= start:
        start = end + 1
    return "…" + text[start:]


# --- Markdown → mrkdwn -------------------------------------------------------------------------

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(?=\S)")  # not `\s`: it also matches \x1c-\x1f and \x85
_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_BOLD_MARK = "\x00"


def markdown_to_mrkdwn(markdown: str) -> str:
    """Convert the Markdown models write into Slack mrkdwn, escaping everything as it goes.

    Headings become bold lines, `**bold**` becomes `*bold*`, `*italic*` becomes `_italic_`,
    `[text](url)` becomes `text (url)` (no `<url|text>`: a link must show where it goes),
    bullets become `•`, fenced code stays fenced (without the language tag) and inline code
    stays inline; code is escaped too, since `<!channel>` in backticks still pings.
    """
    out: list[str] = []
    in_code = False
    for line in remove_control_characters(markdown).split("\n"):  # what is kept as is is clean too
        stripped = line.strip()
        if stripped.startswith(_FENCE):
            out.append(_FENCE)
            in_code = not in_code
            rest = stripped[3:].strip()
            if not in_code and rest:  # "``` trailing" closes, keep the trailing text
                out.append(escape(rest))
            continue
        out.append(escape(line) if in_code else _convert_line(line))
    if in_code:
        out.append(_FENCE)
    return "\n".join(out)


def _convert_line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        inner = _BOLD.sub(r"\2", heading.group(1))
        return f"*{_convert_inline(inner)}*" if inner else ""
    bullet = _BULLET.match(line)
    if bullet:
        return bullet.group(1) + "• " + _convert_inline(line[bullet.end() :])
    return _convert_inline(line)


def _convert_inline(text: str) -> str:
    parts: list[str] = []
    last = 0
    for code in _INLINE_CODE.finditer(text):
        parts.append(_convert_span(text[last : code.start()]))
        parts.append("`" + escape(code.group(2)) + "`")
        last = code.end()
    parts.append(_convert_span(text[last:]))
    return "".join(parts)


def _convert_span(text: str) -> str:
    text = escape(text)
    text = _IMAGE.sub(lambda m: f"{m.group(1) or 'image'} ({m.group(2)})", text)
    text = _LINK.sub(lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


# --- splitting ---------------------------------------------------------------------------------


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn into pieces of at most `limit` characters, losing nothing.

    Cuts fall on paragraph, line or word boundaries where possible and never inside an entity
    such as `&amp;`; a code fence open at a cut is closed and reopened in the next piece.
    """
    if limit < 20:
        raise ValueError("limit too small to split safely")
    pieces: list[str] = []
    rest = text
    reopen = False
    while rest:
        head = _FENCE + "\n" if reopen else ""
        room = limit - len(head)
        if len(rest) <= room - len(_FENCE) - 1:
            piece, rest = head + rest, ""
        else:
            cut = cut_point(rest, room - len(_FENCE) - 1) or room - len(_FENCE) - 1
            piece, rest = head + rest[:cut].rstrip("\n"), rest[cut:].lstrip("\n")
        reopen = piece.count(_FENCE) % 2 == 1
        if reopen:
            piece += "\n" + _FENCE
        if piece.strip():
            pieces.append(piece)
    return pieces or [""]


def paginate(pieces: list[str], *, budget: int = MESSAGE_BUDGET, max_blocks: int = 40) -> list[list[str]]:
    """Group section texts into messages that each stay within a character and block budget."""
    pages: list[list[str]] = []
    page: list[str] = []
    used = 0
    for piece in pieces:
        if page and (used + len(piece) > budget or len(page) >= max_blocks):
            pages.append(page)
            page, used = [], 0
        page.append(piece)
        used += len(piece)
    if page:
        pages.append(page)
    return pages

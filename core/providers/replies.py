"""What a model's reply holds and how it ended, read alike by both providers, streamed or whole.

- Reasoning written inside the content (`<think>…</think>`, as DeepSeek-R1 and Qwen3 do through
  Ollama or vLLM) is taken out of the answer and kept as the model's reasoning, also when the tag
  never closes (the output limit was spent thinking).
- A 200 body that is not what was asked for is recognised: JSON although a stream was asked (read
  as a whole reply), or an HTML page (a proxy's or a web server's: the base URL is wrong).
- Bytes that are not UTF-8 are read as U+FFFD on both paths (as httpx2 does for streams), and the
  answer says so instead of failing.
- An answer without text is never a success: `no_answer` gives the reason to show.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx2

from core.domain import Ending
from core.errors import ProviderResponseError, ProviderUnavailableError
from core.providers import sse
from core.providers.base import Completion
from core.text import remove_control_characters

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
_SPACE = re.compile(r"\s*")
LIMIT_SETTING = "CONSENSUS_MAX_TOKENS"


class ThinkSplitter:
    """Finds the reasoning a model wrote at the start of its content. Fed the whole text so far on
    every delta, it remembers where it looked, so a long stream is scanned once."""

    def __init__(self) -> None:
        self._plain = False  # the content does not start with <think>: all of it is the answer
        self._open = -1  # where the reasoning starts (after <think>)
        self._close = -1  # where </think> is
        self._scanned = 0

    def answer(self, text: str) -> str:
        """The answer part of `text`: "" while the model is still thinking (or the start is unclear)."""
        if self._plain:
            return text
        if self._open < 0:
            start = _SPACE.match(text).end()  # type: ignore[union-attr]  # `\s*` always matches
            if text.startswith(THINK_OPEN, start):
                self._open = self._scanned = start + len(THINK_OPEN)
            elif THINK_OPEN.startswith(text[start : start + len(THINK_OPEN)]):
                return ""  # only blanks, or the tag split across deltas: wait for more
            else:
                self._plain = True
                return text
        if self._close < 0:
            found = text.find(THINK_CLOSE, max(self._open, self._scanned - len(THINK_CLOSE) + 1))
            self._scanned = len(text)
            if found < 0:
                return ""
            self._close = found
        return text[self._close + len(THINK_CLOSE) :].lstrip()

    def thinking(self, text: str) -> str:
        if self._open < 0:
            return ""
        return text[self._open : self._close if self._close >= 0 else len(text)].strip()


def split_thinking(text: str) -> tuple[str, str]:
    """(answer, reasoning) of a whole reply's content."""
    splitter = ThinkSplitter()
    return splitter.answer(text), splitter.thinking(text)


def completion(
    text: str,
    *,
    label: str,
    name: str,
    ended: Ending,
    thinking: str = "",
    refusal: str = "",
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    reasoning_tokens: int | None = None,
) -> Completion:
    """The Completion of a reply whose content was `text`. `thinking`: reasoning from the API's own
    fields or blocks; `refusal`: OpenAI's refusal text, shown as the answer."""
    answer, written = split_thinking(text)
    if refusal:
        answer, ended = answer or refusal, Ending.REFUSED
    if ended is Ending.CLOSED and not answer.strip():  # nothing to keep: worth another try
        raise ProviderUnavailableError(f"the connection to {label} closed before the answer began", provider=name)
    thinking = "\n\n".join(part for part in (thinking.strip(), written) if part)
    return Completion(
        answer, tokens_in, tokens_out, ended, thinking, "\ufffd" in answer, reasoning_tokens=reasoning_tokens
    )


def no_answer(completion: Completion) -> str | None:
    """Why a finished reply holds no answer, for its card; None when it has one."""
    if remove_control_characters(completion.text).strip():  # what is stored and shown has no controls
        return None
    thought = bool(completion.thinking.strip() or completion.reasoning_tokens)
    if completion.ended is Ending.LENGTH:
        if thought:
            return f"no answer: the model used its whole output limit on reasoning — raise the limit ({LIMIT_SETTING})"
        return f"no answer: the model reached its output limit before writing anything ({LIMIT_SETTING})"
    reasons = {
        Ending.CONTEXT: "no answer: the conversation filled the model's context window",
        Ending.CONTENT_FILTER: "no answer: stopped by the provider's content filter",
        Ending.REFUSED: "no answer: the model refused to answer",
    }
    if completion.ended in reasons:
        return reasons[completion.ended]
    return "no answer: the model wrote only its reasoning" if thought else "no answer: the model sent no text"


# -- the body of a 200 reply -----------------------------------------------------------------------


def kind(response: httpx2.Response) -> str:
    """ "sse", "json" or "html", from the content type; an event stream unless it says otherwise."""
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type:
        return "html"
    if "json" in content_type:
        return "json"
    return "sse"


async def lines_or_whole(response: httpx2.Response, *, streaming: bool) -> AsyncIterator[str] | bytes:
    """The lines of an event stream when one was asked for and one came; else the whole body (a
    JSON reply or a web page, whatever the content type said), to be read as a whole reply."""
    if streaming and kind(response) == "sse":
        return await sse.lines_or_body(response)
    return await response.aread()


def is_html(response: httpx2.Response, body: bytes) -> bool:
    return kind(response) == "html" or body.lstrip()[:1] == b"<"


def html_page(label: str, name: str) -> ProviderResponseError:
    """A web page where an answer was expected: not retryable, the address is what is wrong."""
    return ProviderResponseError(
        f"{label} sent an HTML page instead of an answer (is the base URL right?)", provider=name
    )


def text_of(body: bytes) -> str:
    """A whole body as text: UTF-8, with any byte that is not read as U+FFFD (as streams are read)."""
    return body.decode("utf-8", errors="replace")

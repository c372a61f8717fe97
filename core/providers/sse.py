"""Server-sent events read straight off an `httpx2` response, for the providers' streamed answers.

Why a raw reader: the SDKs turn every streamed chunk into a pydantic model, and for OpenAI that was
the largest share of a streamed call's CPU under load. The providers still let the SDK build,
authenticate and send the request and raise its errors for bad statuses; only the body of a
successful stream is read here, and each event's JSON is parsed with `json.loads` where it is needed.
Follows the SSE format: `event:` and `data:` fields, `:` comments (keep-alives), several `data:` lines
joined by newlines, an event dispatched at its blank line and an unfinished one dropped at the end.
An event whose data is empty (a bare `data:` heartbeat some gateways send) is not dispatched, as the
specification says.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import httpx2

# After the end marker, how long the rest of the body may take to arrive: long enough for the
# connection to go back to the pool, short enough that a server holding it open costs nothing.
DRAIN_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Event:
    name: str  # "" when the event had no `event:` line
    data: str


def _field_value(line: str, start: int) -> str:
    value = line[start:]
    return value[1:] if value.startswith(" ") else value


async def events(lines: AsyncIterator[str]) -> AsyncGenerator[Event, None]:
    """The events in a stream of lines (line ends already removed, as `aiter_lines` gives them)."""
    name = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data and (joined := "\n".join(data)):
                yield Event(name, joined)
            name, data = "", []
        elif line.startswith("data:"):
            data.append(_field_value(line, 5))
        elif line.startswith("event:"):
            name = _field_value(line, 6)
        # `:` comments, `id:` and `retry:` carry nothing a provider needs


_FIELD_STARTS = ("data:", "event:", ":", "id:", "retry:")


async def lines_or_body(response: httpx2.Response) -> AsyncIterator[str] | bytes:
    """The lines of an event stream; or, when the body is not one whatever its content type says (a
    proxy's HTML page, a JSON reply), the whole body, to be read as a whole reply."""
    lines = response.aiter_lines()
    head: list[str] = []
    async for line in lines:
        head.append(line)
        if line.strip():
            break
    if not head or head[-1].lstrip().startswith(_FIELD_STARTS):
        return _chained(head, lines)
    rest = [line async for line in lines]
    return "\n".join(head + rest).encode()


async def _chained(head: list[str], rest: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    for line in head:
        yield line
    async for line in rest:
        yield line


async def drain(stream: AsyncIterator[Event]) -> None:
    """Read what follows the end marker so the HTTP/1.1 connection can be reused; give up quickly."""
    with contextlib.suppress(TimeoutError, httpx2.HTTPError):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in stream:
                pass

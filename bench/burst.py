"""Send many HTTP requests at the same instant, from a process of their own, and time each answer.

Slack's requests come from Slack's machines, not from the bot's host: a driver that signs and sends
200 requests with aiohttp in the bench process spends ~1 ms of its own CPU on each, and that queueing
would be counted as the bot's ack latency. Here the requests are built beforehand, all connections
are opened at once and each request is written as soon as its connection is open (a socket write is
a copy into the kernel); each answer is stamped when its status line arrives, on a core the bench
process does not use.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    sent: float  # time.monotonic(), comparable across processes on one machine
    answered: float
    status: int


def http_post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 request, ready to write."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def fire(host: str, port: int, requests: list[bytes]) -> list[Timing]:
    """Send `requests` at once from a new process; the timings, in the order of `requests`."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_child, args=(theirs, host, port, requests), daemon=True)
    process.start()
    try:
        if not ours.poll(120):
            raise RuntimeError("the burst sender did not finish")
        result: list[Timing] | str = ours.recv()
    finally:
        process.join(10)
    if isinstance(result, str):
        raise RuntimeError(f"the burst sender failed: {result}")
    return result


def _child(pipe: multiprocessing.connection.Connection, host: str, port: int, requests: list[bytes]) -> None:
    try:
        pipe.send(asyncio.run(_send_all(host, port, requests)))
    except Exception as exc:  # the parent gets the reason instead of a silent timeout
        pipe.send(repr(exc))


async def _send_all(host: str, port: int, requests: list[bytes]) -> list[Timing]:
    async def one(request: bytes) -> Timing:
        # Written the moment its connection is open: a server that accepts one connection at a
        # time answers each in turn, instead of waiting for a request that is never written.
        reader, writer = await asyncio.open_connection(host, port)
        try:
            sent = time.monotonic()
            writer.write(request)
            status_line = await reader.readline()
            answered = time.monotonic()
            await reader.read()  # the rest; the server closes (Connection: close)
        finally:
            writer.close()
        return Timing(sent, answered, int(status_line.split()[1]) if status_line else 0)

    return list(await asyncio.gather(*(one(request) for request in requests)))

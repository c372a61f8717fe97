"""The burst sender against a server that accepts one connection at a time."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from bench.burst import _send_all, http_post


@pytest.fixture
def one_at_a_time() -> Iterator[tuple[int, list[bytes]]]:
    """A server with a backlog of one that reads a whole request, answers it and only then accepts
    the next connection; yields its port and the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=1)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                data = b""
                while b"\r\n\r\n" not in data and (chunk := conn.recv(4096)):
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                lengths = [int(line.split()[1]) for line in head.split(b"\r\n") if line.startswith(b"Content-Length")]
                while len(body) < sum(lengths) and (chunk := conn.recv(4096)):
                    body += chunk
                seen.append(body)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        stop.set()
        thread.join(5)
        listener.close()


async def test_each_request_is_written_as_its_connection_opens(one_at_a_time: tuple[int, list[bytes]]) -> None:
    port, seen = one_at_a_time
    requests = [http_post("127.0.0.1", port, "/x", f"n={i}".encode(), {}) for i in range(6)]
    # More connections than the backlog holds: one opened but never written would block them all.
    timings = await asyncio.wait_for(_send_all("127.0.0.1", port, requests), 30)
    assert [t.status for t in timings] == [204] * 6
    assert sorted(seen) == sorted(f"n={i}".encode() for i in range(6))

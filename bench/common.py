"""Shared helpers for the benchmarks: loopback-only networking, percentiles, tables, the machine
stamp, scratch PostgreSQL databases, and the sections of bench/RESULTS.md."""

from __future__ import annotations

import os

# The SDKs' HTTP client honours proxy variables even for loopback; every bench talks to 127.0.0.1.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

import datetime as _dt  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from collections.abc import AsyncIterator, Iterable, Sequence  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "RESULTS.md"
POSTGRES = os.environ.get("CONSENSUS_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_HEADER = (
    "# Benchmark results\n\n"
    "Written by `python -m bench` (or one bench alone: `python -m bench.storage`, `bench.fanout`, "
    "`bench.ranking`). Each section is replaced when its bench runs again; figures are medians and "
    "p95 over repeats on a shared machine, so treat differences under ~20% as noise.\n"
)


# -- statistics and tables ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (it reads well in a terminal too)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# -- the machine stamp ----------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "core", "bot"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (core/bot modified)" if dirty else "")


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def machine_stamp() -> str:
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now} · {os.cpu_count()} cores · {_memory()} RAM · Python {platform.python_version()} · "
        f"{platform.system()} {platform.machine()} · commit {_git_commit()}"
    )


# -- bench/RESULTS.md -----------------------------------------------------------------------------


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace (or append) the `## title` section of RESULTS.md, stamped with the machine."""
    text = path.read_text() if path.exists() else _HEADER
    section = f"## {title}\n\n_{machine_stamp()}_\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
    print(f"\n(wrote section '{title}' of {path.relative_to(REPO)})")


# -- scratch PostgreSQL databases -----------------------------------------------------------------


class PostgresUnavailable(Exception):
    """The PostgreSQL server did not answer; the message says why."""


@asynccontextmanager
async def scratch_postgres(prefix: str = "consensus_bench") -> AsyncIterator[str]:
    """A fresh database on the local server (SQLAlchemy asyncpg URL), dropped afterwards."""
    import asyncpg

    try:
        admin = await asyncpg.connect(POSTGRES, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        raise PostgresUnavailable(f"PostgreSQL not answering at {POSTGRES}: {exc}") from exc
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(POSTGRES)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

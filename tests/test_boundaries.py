"""The layers keep their promises (see the design's house rules), read from the source's syntax tree:
core/ knows no platform, no outer package and no environment, and only core/store/ speaks SQL;
adapters/ run no SQL; one module writes the batch leases."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PLATFORM_LIBRARIES = (
    "slack_sdk",
    "slack_bolt",
    "discord",
    "aiohttp",
    "rich",
    "click",
    "prometheus_client",
    "pydantic_settings",
    "dotenv",
    "platformdirs",
)
OUTER_PACKAGES = ("adapters", "bot", "bench", "tests")
LEASE_COLUMNS = ("lease_owner", "lease_expires_at")
SQL_LIBRARIES = ("sqlalchemy", "alembic", "asyncpg", "aiosqlite", "sqlite3")


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(module: ast.Module) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every module imported, at any depth (imports inside functions included)."""
    for node in ast.walk(module):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages)


def environment_reads(module: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in ("environ", "environb", "getenv", "getenvb", "putenv")
        ):
            yield node.lineno, f"os.{node.attr}"
    for line, name in imported(module):
        if name in ("os.environ", "os.environb", "os.getenv", "os.getenvb") or within(name, ("dotenv",)):
            yield line, name


def session_uses(module: ast.Module, owners: tuple[str, ...] = ()) -> Iterator[tuple[int, str]]:
    """`x.session` anywhere, or only where `x` is one of `owners` (a name or an attribute's name)."""
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute) and node.attr == "session":
            owner = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", "")
            if not owners or owner in owners:
                yield node.lineno, f"{owner}.session"


def lease_writes(module: ast.Module) -> Iterator[tuple[int, str]]:
    """Where a lease column is given a value: an assignment, a keyword argument or a dict key."""
    for node in ast.walk(module):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr in LEASE_COLUMNS:
            yield node.lineno, node.attr
        elif isinstance(node, ast.keyword) and node.arg in LEASE_COLUMNS:
            yield node.value.lineno, node.arg
        elif isinstance(node, ast.Dict):
            yield from (
                (key.lineno, key.value)
                for key in node.keys
                if isinstance(key, ast.Constant) and key.value in LEASE_COLUMNS
            )


def shown(path: Path, line: int, what: str) -> str:
    return f"{path.relative_to(ROOT)}:{line}: {what}"


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_platform_library_and_no_outer_package(path: Path) -> None:
    found = [
        shown(path, line, name)
        for line, name in imported(tree(path))
        if within(name, PLATFORM_LIBRARIES + OUTER_PACKAGES)
    ]
    assert not found, "core/ must stay platform-neutral:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_reads_no_environment(path: Path) -> None:
    found = [shown(path, line, what) for line, what in environment_reads(tree(path))]
    assert not found, "core/ is configured by bot/, never from the environment:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "path",
    [p for p in sources("core") if not p.is_relative_to(ROOT / "core" / "store")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_store_speaks_sql_in_core(path: Path) -> None:
    module = tree(path)
    found = [shown(path, line, name) for line, name in imported(module) if within(name, SQL_LIBRARIES)]
    found += [shown(path, line, what) for line, what in session_uses(module)]
    assert not found, "queries belong in core/store/ (a repository method):\n" + "\n".join(found)


@pytest.mark.parametrize("path", sources("adapters"), ids=lambda p: str(p.relative_to(ROOT)))
def test_adapters_run_no_sql(path: Path) -> None:
    module = tree(path)
    found = [shown(path, line, name) for line, name in imported(module) if within(name, (*SQL_LIBRARIES, "core.store"))]
    # An HTTP client's `.session` is fine; a repository's or the store's is not.
    found += [shown(path, line, what) for line, what in session_uses(module, ("repo", "repository", "store"))]
    assert not found, "adapters call the service; they run no SQL:\n" + "\n".join(found)


def test_one_module_writes_the_lease_columns() -> None:
    owner = ROOT / "core" / "store" / "leases.py"
    found = [
        shown(path, line, what)
        for path in sources("core")
        if path != owner and not path.is_relative_to(ROOT / "core" / "store" / "migrations")
        for line, what in lease_writes(tree(path))
    ]
    assert not found, "which process runs a batch is decided in core/store/leases.py only:\n" + "\n".join(found)
    assert list(lease_writes(tree(owner)))


def test_the_checks_see_what_they_look_for() -> None:
    module = ast.parse(
        "import os\nfrom slack_sdk import WebClient\nfrom sqlalchemy import select\n"
        "def f(repo):\n    import bot.cli\n    return os.environ['X'], os.getenv('Y'), repo.session\n"
    )
    assert {name for _, name in imported(module)} >= {"slack_sdk", "bot.cli", "sqlalchemy"}
    assert [what for _, what in environment_reads(module)] == ["os.environ", "os.getenv"]
    assert [what for _, what in session_uses(module, ("repo",))] == ["repo.session"]
    writes = ast.parse(
        "b.lease_owner = 1\nupdate(t).values(lease_expires_at=2)\nx = {'lease_owner': 3}\nt.lease_owner == 4\n"
    )
    assert sorted(lease_writes(writes)) == [(1, "lease_owner"), (2, "lease_expires_at"), (3, "lease_owner")]

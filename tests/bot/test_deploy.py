"""The set-up: the locks pin every dependency within pyproject.toml's ranges (checked offline, so a
new upstream release changes nothing), `docker compose config` accepts deploy/compose.yaml (where a
docker client with compose exists), the image installs the run-time lock, runs as a non-root user
and migrates on start. The install itself is exercised by deploy/check-install.sh, which CI runs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def compose_available() -> str | None:
    """None when `docker compose` works here, else why not."""
    if shutil.which("docker") is None:
        return "no docker client installed"
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"`docker compose version` failed: {(probe.stderr or probe.stdout).strip()[:200]}"
    return None


def test_compose_config_is_valid(tmp_path: Path) -> None:
    reason = compose_available()
    if reason is not None:
        pytest.skip(f"docker compose config not checked: {reason}")
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    shutil.copy(DEPLOY / "env.example", deploy / ".env")  # as the README tells a team to do
    result = subprocess.run(
        ["docker", "compose", "-f", str(deploy / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_compose_wires_postgres_health_volume_and_secrets() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    assert "condition: service_healthy" in text and "pg_isready" in text
    assert "pgdata:/var/lib/postgresql/data" in text and "\nvolumes:\n  pgdata:" in text
    assert "env_file:\n      - .env" in text
    assert "postgresql+asyncpg://" in text
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_dockerfile_is_multi_stage_non_root_pinned_and_migrates_on_start() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.11-slim") == 2 and "COPY --from=build" in dockerfile
    assert "USER consensus" in dockerfile and "useradd" in dockerfile
    assert "install.sh deps" in dockerfile and "install.sh app" in dockerfile
    assert "requirements/runtime.lock" in (DEPLOY / "install.sh").read_text()
    start = (DEPLOY / "start.sh").read_text()
    assert start.index("consensus db upgrade") < start.index("exec consensus serve")


def lock_entries(name: str) -> list[tuple[Requirement, list[str]]]:
    """requirements/NAME.lock as its pins, each with the indented lines (hashes, comments) below it."""
    entries: list[tuple[Requirement, list[str]]] = []
    for line in (LOCKS / f"{name}.lock").read_text().splitlines():
        if line.startswith(" ") and entries:
            entries[-1][1].append(line.strip())
        elif line and not line.startswith("#"):
            entries.append((Requirement(line.rstrip(" \\")), []))
    return entries


def read_lock(name: str) -> dict[str, Requirement]:
    return {canonicalize_name(pin.name): pin for pin, _ in lock_entries(name)}


def pinned_version(requirement: Requirement) -> str:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} is not an exact pin"
    return spec.version


def test_locks_pin_every_declared_dependency_within_its_range() -> None:
    runtime, dev = read_lock("runtime"), read_lock("dev")
    declared = [(Requirement(r), (runtime, dev)) for r in PROJECT["dependencies"]]
    declared += [(Requirement(r), (dev,)) for r in PROJECT["optional-dependencies"]["test"]]
    for requirement, locks in declared:
        for lock in locks:
            pin = lock.get(canonicalize_name(requirement.name))
            assert pin is not None, f"{requirement.name} is in pyproject.toml but not pinned: run `make lock`"
            assert requirement.specifier.contains(pinned_version(pin), prereleases=True), (
                f"{pin} is outside pyproject.toml's {requirement}: run `make lock`"
            )


def test_image_gets_the_development_pins_without_any_test_tool() -> None:
    runtime, dev = read_lock("runtime"), read_lock("dev")
    test_tools = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["test"]}
    assert not runtime.keys() & test_tools
    assert {"sqlalchemy", "asyncpg", "aiosqlite", "greenlet", "slack-bolt", "discord-py"} <= runtime.keys()
    for name, pin in runtime.items():
        assert name in dev and pinned_version(pin) == pinned_version(dev[name]), f"{name}: the two locks differ"


def test_every_pin_carries_hashes_and_every_install_checks_them() -> None:
    for name in ("runtime", "dev"):
        for pin, below in lock_entries(name):
            assert any(line.startswith("--hash=sha256:") for line in below), f"{pin} has no hash in {name}.lock"
    assert "--require-hashes -r requirements/dev.lock" in (ROOT / "Makefile").read_text()
    assert "--require-hashes --requirement" in (DEPLOY / "install.sh").read_text()

"""The container set-up: `docker compose config` accepts deploy/compose.yaml (where a docker client
with compose exists), the image installs from the lock, runs as a non-root user and migrates on start.
The install itself is exercised by deploy/check-install.sh, which CI (.ci/run) runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


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
    result = subprocess.run(["docker", "compose", "-f", str(deploy / "compose.yaml"), "config", "--quiet"],
                            capture_output=True, text=True, timeout=60)
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
    assert "requirements.lock" in (DEPLOY / "install.sh").read_text()
    start = (DEPLOY / "start.sh").read_text()
    assert start.index("consensus db upgrade") < start.index("exec consensus serve")


def test_lock_pins_every_runtime_dependency_and_no_test_tool() -> None:
    pinned = {line.split("==")[0] for line in (DEPLOY / "requirements.lock").read_text().splitlines()
              if line and not line.startswith("#")}
    assert {"sqlalchemy", "asyncpg", "aiosqlite", "greenlet", "slack-bolt", "discord-py", "prometheus-client"} <= pinned
    assert not pinned & {"pytest", "pytest-asyncio", "hypothesis", "ruff", "mypy"}
    current = subprocess.run([sys.executable, str(DEPLOY / "lock.py")], capture_output=True, text=True,
                             check=True).stdout
    assert current == (DEPLOY / "requirements.lock").read_text(), \
        "deploy/requirements.lock is stale: run .venv/bin/python deploy/lock.py > deploy/requirements.lock"

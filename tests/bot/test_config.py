"""Bad configuration: one line that names the setting, what was given and what is expected; exit 2;
nothing started. And where the database lives when DATABASE_URL is unset."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.settings import Settings
from tests.bot.processes import free_port
from tests.conftest import _postgres_database

CLEAN = {k: None for k in os.environ if k.startswith(("CONSENSUS_", "DATABASE_", "LOG_", "OPENAI_", "ANTHROPIC_"))}


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """The commands set up the root logger for the process; give pytest its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def invoke(tmp_path: Path, env: dict[str, str], *args: str) -> Result:
    defaults = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/consensus.db"}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        return CliRunner().invoke(main, args, env={**CLEAN, **defaults, **env})


def assert_one_line(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Configuration: "), result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize(("env", "expected"), [
    ({"CONSENSUS_PRICES": "ollama=0"}, ("CONSENSUS_PRICES", "'ollama=0' is not JSON", '{"ollama/*": [0, 0]')),
    ({"CONSENSUS_PRICES": '{"ollama/*": 0}'}, ("CONSENSUS_PRICES", "expected an object")),
    ({"CONSENSUS_PRICES": '{"ollama/*": [1, "x"]}'}, ("CONSENSUS_PRICES", "expected an object")),
    ({"LOG_LEVEL": "verbose"}, ("LOG_LEVEL", "'verbose'", "DEBUG, INFO, WARNING")),
    ({"LOG_FORMAT": "xml"}, ("LOG_FORMAT", "'xml'", "text or json")),
    ({"CONSENSUS_MODELS": "justamodel"}, ("CONSENSUS_MODELS", "'justamodel'", "provider/model")),
    ({"CONSENSUS_MODELS": "openai/gpt-ok,/gpt"}, ("CONSENSUS_MODELS", "'/gpt'", "provider/model")),
    ({"CONSENSUS_MODELS": "openai gpt-ok"}, ("CONSENSUS_MODELS", "'openai gpt-ok'", "provider/model")),
    ({"CONSENSUS_MODELS": "a/x;b/y"}, ("CONSENSUS_MODELS", "'a/x;b/y'", "separated by commas")),
    ({"CONSENSUS_REVIEWER": "judge"}, ("CONSENSUS_REVIEWER", "'judge'", "provider/model")),
    ({"CONSENSUS_TIMEOUT": "soon"}, ("CONSENSUS_TIMEOUT", "'soon' given", "valid number")),
    ({"DATABASE_URL": "mysql://u:hunter22@db/x"}, ("DATABASE_URL", "'mysql'", "postgresql+asyncpg://")),
    ({"DATABASE_URL": "consensus.db"}, ("DATABASE_URL", "'consensus.db' is not a database URL")),
])
def test_a_bad_setting_is_one_line_naming_it_and_exit_2(tmp_path: Path, env: dict[str, str],
                                                       expected: tuple[str, ...]) -> None:
    result = invoke(tmp_path, env, "history")
    assert_one_line(result, *expected)
    assert "hunter22" not in result.stderr
    assert not (tmp_path / "consensus.db").exists()  # nothing started


def test_garbage_models_never_become_variable_names(tmp_path: Path) -> None:
    result = invoke(tmp_path, {"CONSENSUS_MODELS": "x;rm -rf/y"}, "models")
    assert_one_line(result, "'x;rm -rf/y'")
    assert "_BASE_URL" not in result.stderr and "_API_KEY" not in result.stderr


def test_the_plain_driver_forms_map_to_the_async_drivers() -> None:
    pg = Settings(_env_file=None, database_url="postgresql://u:p@db:5432/consensus")  # type: ignore[call-arg]
    lite = Settings(_env_file=None, database_url="sqlite:///tmp/x.db")  # type: ignore[call-arg]
    assert pg.database_url == "postgresql+asyncpg://u:p@db:5432/consensus"
    assert lite.database_url == "sqlite+aiosqlite:///tmp/x.db"


def test_a_postgresql_that_refuses_connections_is_named_with_its_password_hidden(tmp_path: Path) -> None:
    url = f"postgresql://postgres:hunter22@127.0.0.1:{free_port()}/test"
    for command in (("history",), ("db", "upgrade")):
        result = invoke(tmp_path, {"DATABASE_URL": url}, *command)
        assert_one_line(result, "DATABASE_URL", "connection refused", "postgres:***@127.0.0.1")
        assert "hunter22" not in result.output + result.stderr


async def test_an_unmigrated_postgresql_says_to_run_db_upgrade(tmp_path: Path) -> None:
    url, drop = await _postgres_database()
    try:  # the commands run their own event loop: in a thread beside this one
        result = await asyncio.to_thread(invoke, tmp_path, {"DATABASE_URL": url}, "history")
        assert_one_line(result, "DATABASE_URL", "never migrated", "run `consensus db upgrade`")
        upgraded = await asyncio.to_thread(invoke, tmp_path, {"DATABASE_URL": url}, "db", "upgrade")
        assert upgraded.exit_code == 0, upgraded.output
        assert (await asyncio.to_thread(invoke, tmp_path, {"DATABASE_URL": url}, "history")).exit_code == 0
    finally:
        await drop()


def test_the_database_is_in_one_place_whichever_folder_a_command_runs_in(tmp_path: Path) -> None:
    home, first, second = tmp_path / "home", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    env = {"DATABASE_URL": "", "CONSENSUS_HOME": str(home)}
    for folder in (first, second):
        result = invoke(folder, env, "where")
        assert result.exit_code == 0, result.output
        assert f"database:        sqlite+aiosqlite:///{home}/consensus.db" in result.output
        assert f"encryption key:  {home}/encryption.key" in result.output
    assert invoke(first, env, "history").exit_code == 0
    assert (home / "consensus.db").is_file() and (home / "encryption.key").is_file()
    assert not (first / "data").exists()


def test_the_default_is_the_users_data_folder(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        patch.chdir(tmp_path)
        settings = Settings(_env_file=None, database_url="")  # type: ignore[call-arg]
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/xdg/consensus/consensus.db"


def test_an_existing_database_in_the_folder_is_kept_and_said_so(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "consensus.db").touch()
    result = invoke(tmp_path, {"DATABASE_URL": ""}, "where")
    assert result.exit_code == 0, result.output
    assert f"sqlite+aiosqlite:///{tmp_path}/data/consensus.db  (found in this folder)" in result.output
    assert "found in this folder" in result.stderr  # said once, as the command starts

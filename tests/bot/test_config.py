"""Bad configuration: one line that names the setting, what was given and what is expected; exit 2;
nothing started. And where the database lives when DATABASE_URL is unset."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from tests.bot.inprocess import run_cli
from tests.bot.processes import free_port
from tests.conftest import _postgres_database


async def invoke(folder: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return await run_cli({"DATABASE_URL": f"sqlite+aiosqlite:///{folder}/consensus.db", **env}, *args, cwd=folder)


def assert_one_line(result: tuple[int, str, str], *expected: str) -> None:
    code, out, err = result
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Configuration: "), err
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
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
    ],
)
async def test_a_bad_setting_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, env: dict[str, str], expected: tuple[str, ...]
) -> None:
    result = await invoke(tmp_path, env, "history")
    assert_one_line(result, *expected)
    assert "hunter22" not in result[2]
    assert not (tmp_path / "consensus.db").exists()  # nothing started


async def test_garbage_models_never_become_variable_names(tmp_path: Path) -> None:
    result = await invoke(tmp_path, {"CONSENSUS_MODELS": "x;rm -rf/y"}, "models")
    assert_one_line(result, "'x;rm -rf/y'")
    assert "_BASE_URL" not in result[2] and "_API_KEY" not in result[2]


def test_the_plain_driver_forms_map_to_the_async_drivers() -> None:
    pg = Settings(_env_file=None, database_url="postgresql://u:p@db:5432/consensus")  # type: ignore[call-arg]
    lite = Settings(_env_file=None, database_url="sqlite:///tmp/x.db")  # type: ignore[call-arg]
    assert pg.database_url == "postgresql+asyncpg://u:p@db:5432/consensus"
    assert lite.database_url == "sqlite+aiosqlite:///tmp/x.db"


async def test_a_postgresql_that_refuses_connections_is_named_with_its_password_hidden(tmp_path: Path) -> None:
    url = f"postgresql://postgres:hunter22@127.0.0.1:{free_port()}/test"
    for command in (("history",), ("db", "upgrade")):
        result = await invoke(tmp_path, {"DATABASE_URL": url}, *command)
        assert_one_line(result, "DATABASE_URL", "connection refused", "postgres:***@127.0.0.1")
        assert "hunter22" not in result[1] + result[2]


async def test_an_unmigrated_postgresql_says_to_run_db_upgrade(tmp_path: Path) -> None:
    url, drop = await _postgres_database()
    try:
        result = await invoke(tmp_path, {"DATABASE_URL": url}, "history")
        assert_one_line(result, "DATABASE_URL", "never migrated", "run `consensus db upgrade`")
        code, _out, err = await invoke(tmp_path, {"DATABASE_URL": url}, "db", "upgrade")
        assert code == 0, err
        assert (await invoke(tmp_path, {"DATABASE_URL": url}, "history"))[0] == 0
    finally:
        await drop()


async def test_the_database_is_in_one_place_whichever_folder_a_command_runs_in(tmp_path: Path) -> None:
    home, first, second = tmp_path / "home", tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    env = {"DATABASE_URL": "", "CONSENSUS_HOME": str(home)}
    for folder in (first, second):
        code, out, err = await invoke(folder, env, "where")
        assert code == 0, err
        assert f"database:        sqlite+aiosqlite:///{home}/consensus.db" in out
        assert f"encryption key:  {home}/encryption.key" in out
    assert (await invoke(first, env, "history"))[0] == 0
    assert (home / "consensus.db").is_file() and (home / "encryption.key").is_file()
    assert not (first / "data").exists()


def test_the_default_is_the_users_data_folder(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
        patch.chdir(tmp_path)
        settings = Settings(_env_file=None, database_url="")  # type: ignore[call-arg]
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path}/xdg/consensus/consensus.db"


async def test_an_existing_database_in_the_folder_is_kept_and_said_so(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "consensus.db").touch()
    code, out, err = await invoke(tmp_path, {"DATABASE_URL": ""}, "where")
    assert code == 0, err
    assert f"sqlite+aiosqlite:///{tmp_path}/data/consensus.db  (found in this folder)" in out
    assert "found in this folder" in err  # said as the command starts

"""`consensus keys …` as a real process: the key comes from standard input, is stored encrypted, pays
for the asker's answers, and never shows in the database file, the output, the logs or a request body."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.bot.processes import cli_env, consensus
from tests.fakes.llm_server import FakeLLMServer, unauthorized

USER_KEY = "sk-proj-TerminalUserKey0123456789abcdefXY9z"
OPERATOR_KEY = "sk-test-cli"  # cli_env's OPENAI_API_KEY: the environment path


async def with_stdin(tmp_path: Path, env: dict[str, str], text: str, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(text.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def files_under(folder: Path, pattern: str) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob(pattern))


async def test_key_from_stdin_pays_and_never_leaks(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    env = cli_env(llm_server, tmp_path, CONSENSUS_MODELS="openai/gpt-test", LOG_LEVEL="DEBUG")
    outputs: list[str] = []

    code, out, err = await with_stdin(tmp_path, env, USER_KEY + "\n", "keys", "set", "openai")
    outputs += [out, err]
    assert code == 0, err
    assert "••XY9z" in out
    key_file = tmp_path / "encryption.key"  # the SQLite file's folder: the data folder
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "generated an encryption key" in err and "CONSENSUS_ENCRYPTION_KEYS" in err
    first_key = key_file.read_text()

    code, out, err = await consensus(tmp_path, env, "keys", "list", "--json")
    outputs += [out, err]
    assert code == 0, err
    assert json.loads(out) == [
        {"provider": "openai", "scope": "user", "hint": "••XY9z", "last_used_at": None, "readable": True}
    ]
    assert key_file.read_text() == first_key  # reused, not regenerated

    code, out, err = await consensus(tmp_path, env, "ask", "Who pays for this?", "--json")
    outputs += [out, err]
    assert code == 0, err
    assert json.loads(out)["answers"][0]["key"] == "your key ••XY9z"
    asked = [c for c in llm_server.calls if b"Who pays for this?" in c.body]
    assert [c.headers["authorization"] for c in asked] == [f"Bearer {USER_KEY}"]
    assert "DEBUG" in err  # the logs really were at DEBUG

    code, out, err = await consensus(tmp_path, env, "keys", "set", "openai", USER_KEY)  # never as an argument
    outputs += [out, err]
    assert code == 2

    for secret in (USER_KEY, OPERATOR_KEY):
        assert not [text for text in outputs if secret in text]
        assert secret.encode() not in files_under(tmp_path, "consensus.db*")
        for call in llm_server.calls:
            assert secret.encode() not in call.body
            assert all(secret not in v for k, v in call.headers.items() if k.lower() != "authorization")


async def test_bad_key_is_refused_without_echoing_it(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    env = cli_env(llm_server, tmp_path)
    bad = "sk-ant-api03-NotAnOpenAIKeyButAnthropicOne0000"
    code, out, err = await with_stdin(tmp_path, env, bad + "\n", "keys", "set", "openai")
    assert code == 2
    assert "That key looks like it is for Anthropic, not OpenAI." in err
    assert bad not in out + err and bad[-8:] not in out + err


async def test_production_refuses_to_start_without_the_encryption_keys(
    llm_server: FakeLLMServer, tmp_path: Path
) -> None:
    env = cli_env(llm_server, tmp_path, CONSENSUS_ENV="production")
    code, _out, err = await consensus(tmp_path, env, "keys", "list")
    assert code == 2 and "CONSENSUS_ENCRYPTION_KEYS" in err
    assert not (tmp_path / "encryption.key").exists()


async def test_rotate_from_the_terminal(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    code, _out, err = await with_stdin(
        tmp_path,
        cli_env(llm_server, tmp_path, CONSENSUS_ENCRYPTION_KEYS=old),
        USER_KEY + "\n",
        "keys",
        "set",
        "openai",
        "--scope",
        "workspace",
    )
    assert code == 0, err
    both = cli_env(llm_server, tmp_path, CONSENSUS_ENCRYPTION_KEYS=f"{new},{old}")
    code, out, err = await consensus(tmp_path, both, "keys", "rotate")
    assert code == 0, err
    assert "Re-encrypted 1 key(s)" in out
    code, out, err = await consensus(
        tmp_path, cli_env(llm_server, tmp_path, CONSENSUS_ENCRYPTION_KEYS=new), "keys", "list"
    )
    assert code == 0, err
    assert "team" in out and "••XY9z" in out and "UNREADABLE" not in out
    assert not (tmp_path / "encryption.key").exists()  # the variable was set: no file generated


async def test_a_key_the_provider_rejects_is_not_stored(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    env = cli_env(llm_server, tmp_path, CONSENSUS_MODELS="openai/gpt-test")
    llm_server.script("chat", [unauthorized("openai")])

    code, out, err = await with_stdin(tmp_path, env, USER_KEY + "\n", "keys", "set", "openai", "--check")
    assert code == 1, err
    assert "OpenAI rejected the key ••XY9z. It was not stored." in err
    assert "Stored" not in out
    code, out, _err = await consensus(tmp_path, env, "keys", "list", "--json")
    assert json.loads(out) == []

    code, out, err = await with_stdin(tmp_path, env, USER_KEY + "\n", "keys", "set", "openai", "--check")
    assert code == 0, err
    assert "Stored your OpenAI key ••XY9z. OpenAI accepted the key ••XY9z." in out
    assert [c.headers["authorization"] for c in llm_server.calls] == [f"Bearer {USER_KEY}"] * 2

"""`consensus serve` as its own process, stopped by SIGTERM or Ctrl-C in each state it can be in:
connecting (the platform unreachable), serving, reconnecting. Meanwhile /readyz tells the truth and
each failed attempt is one log line, never a traceback. A rejected token stops it with exit 2."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.discord.helpers import eventually
from tests.bot.processes import cli_env, ensure_stopped, free_port, start
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import FakeSlackAPI

SHUTDOWN = 2.0  # CONSENSUS_SHUTDOWN_SECONDS in these tests
DEADLINE = SHUTDOWN + 5  # what the README promises from the signal to the exit
SLACK_BOT, SLACK_APP = "xoxb-states-secret-1111", "xapp-states-secret-2222"
RETRY = "next attempt in"


class Stderr:
    """A process's stderr, collected line by line while it runs."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read(proc.stderr))

    async def _read(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def having(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]

    async def text(self) -> str:
        await asyncio.wait_for(self._reader, 30)
        return "\n".join(self.lines)


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/readyz") as response:
        return response.status, await response.json()


async def ready_becomes(port: int, status: int, what: str) -> dict[str, Any]:
    """Poll /readyz until it answers `status` (the health server may not be listening yet)."""
    found: list[dict[str, Any]] = []

    async def check() -> bool:
        try:
            answered, body = await readyz(port)
        except aiohttp.ClientConnectionError:
            return False
        found[:] = [body]
        return answered == status

    loop = asyncio.get_running_loop()
    end = loop.time() + 60
    while not await check():
        assert loop.time() < end, f"/readyz never answered {status} ({what}); last: {found}"
        await asyncio.sleep(0.1)
    return found[0]


async def stopped_by(proc: asyncio.subprocess.Process, sig: signal.Signals) -> float:
    """Send `sig`; the seconds until the process exited (it must exit 0)."""
    loop = asyncio.get_running_loop()
    sent = loop.time()
    proc.send_signal(sig)
    code = await asyncio.wait_for(proc.wait(), DEADLINE + 30)
    elapsed = loop.time() - sent
    assert code == 0, f"exit {code} after {sig.name}"
    return elapsed


def assert_one_line_each(log: str, *secrets: str) -> None:
    """Nothing logged as an error or with a traceback; no secret anywhere."""
    assert "Traceback" not in log, log
    lines = log.splitlines()
    assert not [line for line in lines if line[:1].isspace()], f"a multi-line record:\n{log}"
    assert not [line for line in lines if " ERROR " in line or " CRITICAL " in line], log
    for value in secrets:
        assert value not in log


def env_for(llm_server: FakeLLMServer, tmp_path: Path, health: int, **platform: str) -> dict[str, str]:
    return cli_env(
        llm_server, tmp_path, HOST="127.0.0.1", PORT=str(health), CONSENSUS_SHUTDOWN_SECONDS=str(SHUTDOWN), **platform
    )


def unreachable(case: str, fake_discord: FakeDiscord) -> dict[str, str]:
    """The settings for `case`, with the platform's API (or gateway) on a port nobody listens on."""
    closed = f"127.0.0.1:{free_port()}"
    if case == "slack-socket":
        return {"SLACK_BOT_TOKEN": SLACK_BOT, "SLACK_APP_TOKEN": SLACK_APP, "SLACK_API_URL": f"http://{closed}/api/"}
    if case == "slack-http":
        return {
            "SLACK_BOT_TOKEN": SLACK_BOT,
            "SLACK_SIGNING_SECRET": "states-signing-secret",
            "SLACK_API_URL": f"http://{closed}/api/",
        }
    api = f"{fake_discord.url}/api/v10" if case == "discord-gateway" else f"http://{closed}/api/v10"
    return {
        "DISCORD_TOKEN": fake_discord.token,
        "DISCORD_API_BASE": api,
        "DISCORD_GATEWAY_URL": f"ws://{closed}/gateway",
    }


@pytest.mark.parametrize(
    ("case", "sig", "reason"),
    [
        ("slack-socket", signal.SIGTERM, "Slack: cannot reach the Web API"),
        ("slack-http", signal.SIGINT, "Slack: cannot reach the Web API"),
        ("discord", signal.SIGTERM, "Discord: cannot reach the API"),
        ("discord-gateway", signal.SIGINT, "Discord: cannot reach the gateway"),
    ],
)
async def test_stops_while_the_platform_is_unreachable_and_is_never_ready_meanwhile(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, tmp_path: Path, case: str, sig: signal.Signals, reason: str
) -> None:
    health = free_port()
    proc = await start(tmp_path, env_for(llm_server, tmp_path, health, **unreachable(case, fake_discord)), "serve")
    stderr = Stderr(proc)
    try:
        await eventually(
            lambda: proc.returncode is not None or len(stderr.having(RETRY)) >= 2, "two failed attempts", limit=60
        )
        assert proc.returncode is None, "\n".join(stderr.lines)
        body = await ready_becomes(health, 503, "while connecting")
        assert body["status"] == "unavailable" and any(r.startswith(reason) for r in body["reasons"]), body
        elapsed = await stopped_by(proc, sig)
    finally:
        await ensure_stopped(proc)
    log = await stderr.text()
    assert elapsed < DEADLINE, f"{case}: {elapsed:.1f} s from {sig.name} to exit"
    assert_one_line_each(log, SLACK_BOT, SLACK_APP, fake_discord.token)
    attempts = [line for line in log.splitlines() if reason in line and RETRY in line]
    assert len(attempts) >= 2 and all("WARNING" in line for line in attempts), log
    if case.startswith("slack"):  # 1, 2, 4 … s plus under 1 s of jitter: each wait is longer
        waits = [float(re.search(r"next attempt in ([\d.]+) s", line)[1]) for line in attempts]  # type: ignore[index]
        assert waits == sorted(waits) and waits[0] < waits[-1], waits


@pytest.mark.parametrize(("stop_when", "sig"), [("serving", signal.SIGTERM), ("reconnecting", signal.SIGINT)])
async def test_slack_socket_mode_connects_once_slack_answers_and_stops_in_any_state(
    llm_server: FakeLLMServer, tmp_path: Path, stop_when: str, sig: signal.Signals
) -> None:
    health, api = free_port(), free_port()
    env = env_for(
        llm_server,
        tmp_path,
        health,
        SLACK_BOT_TOKEN=SLACK_BOT,
        SLACK_APP_TOKEN=SLACK_APP,
        SLACK_API_URL=f"http://127.0.0.1:{api}/api/",
    )
    proc = await start(tmp_path, env, "serve")
    stderr = Stderr(proc)
    slack = FakeSlackAPI()
    try:
        await eventually(lambda: stderr.having("Slack: cannot reach the Web API"), "a failed attempt", limit=60)
        await slack.start(port=api)  # Slack is back: the next attempt connects
        body = await ready_becomes(health, 200, "once connected")
        assert body == {"status": "ready", "platforms": ["slack"]} and slack.sockets == 1
        assert len(slack.named("auth.test")) == len(slack.named("apps.connections.open")) == 1
        if stop_when == "reconnecting":
            await slack.disappear()  # the socket closes and Slack cannot be reached again
            body = await ready_becomes(health, 503, "while reconnecting")
            assert body["reasons"] == ["Slack socket not connected; reconnecting"]
            await eventually(lambda: stderr.having("Slack Socket Mode: "), "a failed reconnect", limit=30)
        elapsed = await stopped_by(proc, sig)
    finally:
        await ensure_stopped(proc)
        await slack.stop()
    log = await stderr.text()
    assert elapsed < DEADLINE, f"{stop_when}: {elapsed:.1f} s from {sig.name} to exit"
    assert_one_line_each(log, SLACK_BOT, SLACK_APP)
    if stop_when == "reconnecting":
        [reconnect, *_] = stderr.having("Slack Socket Mode: ")
        assert "WARNING" in reconnect and "ClientConnectorError" in reconnect and f"{RETRY} 10 s" in reconnect


async def test_discord_connects_once_discord_answers_and_stops_while_reconnecting(
    llm_server: FakeLLMServer, world: p.World, tmp_path: Path
) -> None:
    health, port = free_port(), free_port()
    env = env_for(
        llm_server,
        tmp_path,
        health,
        DISCORD_TOKEN="discord-states-token",
        DISCORD_API_BASE=f"http://127.0.0.1:{port}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{port}/gateway",
        DISCORD_GUILD_IDS=world.guild_id,
    )
    proc = await start(tmp_path, env, "serve")
    stderr = Stderr(proc)
    discord = FakeDiscord(token="discord-states-token")
    discord.add_guild(world.guild())
    try:
        await eventually(lambda: stderr.having("Discord: cannot reach the API"), "a failed attempt", limit=60)
        await discord.start(port=port)  # Discord is back: the next attempt logs in and connects
        body = await ready_becomes(health, 200, "once connected")
        assert body == {"status": "ready", "platforms": ["discord"]} and len(discord.identified) == 1
        await discord.disappear()  # the gateway closes and Discord cannot be reached again
        body = await ready_becomes(health, 503, "while reconnecting")
        assert body["reasons"] == ["Discord gateway disconnected; reconnecting"]
        await eventually(lambda: stderr.having("Attempting a reconnect"), "a failed reconnect", limit=30)
        elapsed = await stopped_by(proc, signal.SIGTERM)
    finally:
        await ensure_stopped(proc)
        await discord.stop()
    log = await stderr.text()
    assert elapsed < DEADLINE, f"reconnecting: {elapsed:.1f} s from SIGTERM to exit"
    assert_one_line_each(log, "discord-states-token")
    [reconnect, *_] = stderr.having("Attempting a reconnect")
    assert "WARNING" in reconnect and "ClientConnectorError" in reconnect


async def test_a_token_reset_while_serving_stops_it_with_one_line_and_exit_2(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, tmp_path: Path
) -> None:
    """discord.py reconnects by itself, but not once Discord has ended the session for good: the
    server then stops instead of staying up without its platform."""
    health = free_port()
    env = env_for(
        llm_server,
        tmp_path,
        health,
        DISCORD_TOKEN=fake_discord.token,
        DISCORD_API_BASE=f"{fake_discord.url}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{fake_discord.port}/gateway",
    )
    proc = await start(tmp_path, env, "serve")
    stderr = Stderr(proc)
    try:
        await ready_becomes(health, 200, "once connected")
        token, fake_discord.token = fake_discord.token, "the-reset-token"  # the old token stops working
        await fake_discord.close_sessions(4004, b"Authentication failed.")
        code = await asyncio.wait_for(proc.wait(), DEADLINE + 30)
    finally:
        await ensure_stopped(proc)
    log = await stderr.text()
    assert code == 2, log
    assert (
        [line for line in log.splitlines() if line.startswith("Configuration:")]
        == [line for line in log.splitlines() if "Discord rejected DISCORD_TOKEN" in line]
        != []
    ), log
    assert_one_line_each(log, token)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("slack-http", "Slack rejected SLACK_BOT_TOKEN (invalid_auth)"),
        ("slack-socket", "Slack rejected SLACK_APP_TOKEN (invalid_auth)"),
        ("discord", "Discord rejected DISCORD_TOKEN"),
    ],
)
async def test_a_rejected_token_is_one_line_and_exit_2(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, tmp_path: Path, case: str, message: str
) -> None:
    async with FakeSlackAPI() as slack:
        platform = {
            "slack-http": {"SLACK_BOT_TOKEN": "xoxp-not-a-bot-token", "SLACK_SIGNING_SECRET": "s"},
            "slack-socket": {"SLACK_BOT_TOKEN": SLACK_BOT, "SLACK_APP_TOKEN": "not-an-app-token"},
            "discord": {
                "DISCORD_TOKEN": "not-the-token",
                "DISCORD_API_BASE": f"{fake_discord.url}/api/v10",
                "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{fake_discord.port}/gateway",
            },
        }[case]
        env = env_for(llm_server, tmp_path, free_port(), SLACK_API_URL=f"{slack.url}/api/", **platform)
        proc = await start(tmp_path, env, "serve")
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 60)
        finally:
            await ensure_stopped(proc)
    log = err.decode()
    assert proc.returncode == 2, log
    assert [line for line in log.splitlines() if line.startswith("Configuration:")] == [
        line for line in log.splitlines() if message in line
    ], log
    assert_one_line_each(log, SLACK_BOT, "not-an-app-token", "not-the-token")


@pytest.mark.parametrize("mode", ["slack-http", "discord"])
async def test_a_port_in_use_is_one_line_and_exit_2(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, tmp_path: Path, mode: str
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        async with FakeSlackAPI() as slack:
            platform = (
                {"SLACK_BOT_TOKEN": SLACK_BOT, "SLACK_SIGNING_SECRET": "s"}
                if mode == "slack-http"
                else {
                    "DISCORD_TOKEN": fake_discord.token,
                    "DISCORD_API_BASE": f"{fake_discord.url}/api/v10",
                    "DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{fake_discord.port}/gateway",
                }
            )
            env = env_for(llm_server, tmp_path, port, SLACK_API_URL=f"{slack.url}/api/", **platform)
            proc = await start(tmp_path, env, "serve")
            try:
                _, err = await asyncio.wait_for(proc.communicate(), 60)
            finally:
                await ensure_stopped(proc)
    finally:
        taken.close()
    log = err.decode()
    assert proc.returncode == 2, log
    assert f"Configuration: PORT: cannot listen on 127.0.0.1:{port} (" in log
    assert "Traceback" not in log

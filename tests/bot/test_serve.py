"""`consensus serve` as its own process, against the fake Slack, Discord and model servers."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from tests.adapters.discord.helpers import cards, eventually, field, slash
from tests.bot.processes import cli_env, ensure_stopped, free_port, listening, start
from tests.fakes import discord_payloads as p
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer, Ok
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_signing import SlackSender


def scored(fake: FakeDiscord, thread_id: str) -> list[dict[str, object]]:
    return [c for c in cards(fake, thread_id) if field(c, "Score")]


async def test_serve_answers_on_discord_and_stops_cleanly_on_sigterm(
    llm_server: FakeLLMServer, fake_discord: FakeDiscord, world: p.World, tmp_path: Path
) -> None:
    port = free_port()  # Discord-only: health and metrics get a server of their own on PORT
    env = cli_env(
        llm_server,
        tmp_path,
        DISCORD_TOKEN=fake_discord.token,
        DISCORD_API_BASE=f"{fake_discord.url}/api/v10",
        DISCORD_GATEWAY_URL=f"ws://127.0.0.1:{fake_discord.port}/gateway",
        DISCORD_GUILD_IDS=world.guild_id,
        HOST="127.0.0.1",
        PORT=str(port),
    )
    proc = await start(tmp_path, env, "serve")
    try:
        await eventually(lambda: fake_discord.commands.get(world.guild_id), "commands synced", limit=60)
        await eventually(lambda: fake_discord.identified, "the gateway session", limit=30)
        await slash(fake_discord, world, "consensus", question="Is this a real process?")
        [thread] = await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads", timeout=30)
        thread_id = thread.path.split("/")[-2]
        await eventually(lambda: len(scored(fake_discord, thread_id)) == 3, "three scored cards", limit=30)
        assert len(cards(fake_discord, thread_id)) == 3
        async with aiohttp.ClientSession() as session:
            for _ in range(600):  # ready once discord.py has seen every guild (a couple of seconds)
                async with session.get(f"http://127.0.0.1:{port}/readyz") as ready:
                    status, body = ready.status, await ready.json()
                if status == 200:
                    break
                assert body["reasons"] == ["Discord not connected yet"]
                await asyncio.sleep(0.05)
            assert status == 200 and body["platforms"] == ["discord"]
            async with session.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                exported = await metrics.text()
        assert 'consensus_questions_total{platform="discord"} 1.0' in exported
        assert 'consensus_ack_latency_seconds_count{kind="interaction",platform="discord"}' in exported

        # A question in flight when SIGTERM arrives still completes before the process exits.
        llm_server.script("chat", [Ok("worth the wait", delay=1.0)], model="gpt-test")
        await slash(fake_discord, world, "consensus", question="Finish me during shutdown")
        await fake_discord.wait_for("POST /channels/{id}/messages/{id}/threads", 2, timeout=30)
        await llm_server.wait_for("POST /v1/chat/completions", 4, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        await ensure_stopped(proc)
    second = [t for t in fake_discord.named("POST /channels/{id}/messages/{id}/threads")][1].path.split("/")[-2]
    assert len(scored(fake_discord, second)) == 3, "the question in flight did not finish before the process stopped"


async def test_serve_answers_on_slack_in_http_mode(llm_server: FakeLLMServer, tmp_path: Path) -> None:
    port = free_port()
    async with FakeSlackAPI() as slack, aiohttp.ClientSession() as session:
        slack.add_user("U1", "alice")
        env = cli_env(
            llm_server,
            tmp_path,
            SLACK_BOT_TOKEN="xoxb-test-serve",
            SLACK_SIGNING_SECRET="shh",
            SLACK_API_URL=f"{slack.url}/api/",
            HOST="127.0.0.1",
            PORT=str(port),
        )
        proc = await start(tmp_path, env, "serve")
        try:
            url = f"http://127.0.0.1:{port}/slack/events"
            await eventually(lambda: proc.returncode is not None or listening(port), "the HTTP server", limit=60)
            sender = SlackSender(session, url, "shh")
            status, _ = await sender.command("Is Slack served?", response_url=slack.response_url())
            assert status == 200
            forged, _ = await SlackSender(session, url, "wrong").command("forged", response_url=slack.response_url())
            assert forged == 401

            def finished() -> bool:
                parents = [m for m in slack.channel("C1") if m.thread_ts is None]
                return bool(parents) and "3/3 answered" in json.dumps([parents[0].text, parents[0].blocks])

            await eventually(finished, "the parent's final status", limit=30)
            parent = next(m for m in slack.channel("C1") if m.thread_ts is None)
            assert len(slack.thread("C1", parent.ts)) == 3
            assert "forged" not in json.dumps([m.text for m in slack.channel("C1")])
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
        finally:
            await ensure_stopped(proc)

"""Operating `consensus serve`: health, readiness and metrics on PORT, JSON logs without secrets,
and a SIGTERM that lets the questions in flight finish while new ones hear "restarting"."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.adapters.discord.helpers import eventually
from tests.bot.processes import cli_env, ensure_stopped, free_port, listening, start
from tests.fakes.llm_server import FakeLLMServer, Ok
from tests.fakes.slack_api import FakeSlackAPI, Message
from tests.fakes.slack_signing import SlackSender

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-ops-secret-token-4242",
    "SLACK_SIGNING_SECRET": "signing-secret-ops-9876",
    "OPENAI_API_KEY": "sk-ops-openai-secret-1234",
    "ANTHROPIC_API_KEY": "sk-ant-ops-secret-5678",
}


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        head, _, rest = metric.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if head == name and all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return None


def parents(slack: FakeSlackAPI) -> list[Message]:
    return [m for m in slack.channel("C1") if m.thread_ts is None]


def final(slack: FakeSlackAPI, index: int) -> bool:
    """The question's parent says every model answered and the answers are ranked."""
    found = parents(slack)
    if len(found) <= index:
        return False
    shown = json.dumps([found[index].text, found[index].blocks])
    return "3/3 answered" in shown and "ranked by" in shown


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


@pytest.fixture
async def slack() -> Any:
    async with FakeSlackAPI() as fake:
        fake.add_user("U1", "alice")
        yield fake


async def test_health_metrics_json_logs_and_draining_on_sigterm(
    llm_server: FakeLLMServer, slack: FakeSlackAPI, tmp_path: Path
) -> None:
    port = free_port()
    env = cli_env(
        llm_server,
        tmp_path,
        SLACK_API_URL=f"{slack.url}/api/",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_FORMAT="json",
        **SECRETS,
    )
    base = f"http://127.0.0.1:{port}"
    proc = await start(tmp_path, env, "serve")
    try:
        async with aiohttp.ClientSession() as session:
            await eventually(lambda: proc.returncode is not None or listening(port), "the HTTP server", limit=60)
            assert await get(session, f"{base}/healthz") == (200, json.dumps({"status": "ok"}))
            status, body = await get(session, f"{base}/readyz")
            assert status == 200 and json.loads(body) == {"status": "ready", "platforms": ["slack"]}
            status, before = await get(session, f"{base}/metrics")
            assert status == 200 and "# TYPE consensus_questions_total counter" in before
            assert sample(before, "consensus_questions_total", platform="slack") is None

            sender = SlackSender(session, f"{base}/slack/events", SECRETS["SLACK_SIGNING_SECRET"])
            assert (await sender.command("Is this observable?", response_url=slack.response_url()))[0] == 200
            await eventually(lambda: final(slack, 0), "the first question ranked", limit=30)
            for _ in range(600):  # in flight until its final state is delivered: a moment after Slack shows it
                _, after = await get(session, f"{base}/metrics")
                if sample(after, "consensus_batches_in_flight") == 0:
                    break
                await asyncio.sleep(0.05)
            assert sample(after, "consensus_questions_total", platform="slack") == 1
            for model in ("openai/gpt-test", "anthropic/claude-test", "ollama/llama-test"):
                assert sample(after, "consensus_answers_total", provider=model, status="completed") == 1
                assert sample(after, "consensus_provider_latency_seconds_count", provider=model) == 1
                assert (sample(after, "consensus_tokens_total", provider=model, direction="out") or 0) > 0
            assert (
                sample(after, "consensus_platform_calls_total", platform="slack", method="chat.postMessage") or 0
            ) >= 4  # the question and three cards
            assert sample(after, "consensus_ack_latency_seconds_count", platform="slack", kind="command") == 1
            assert sample(after, "consensus_batches_in_flight") == 0

            # A question in flight at SIGTERM finishes; a new one during the drain hears "restarting".
            gate = asyncio.Event()
            llm_server.script("chat", [Ok("Worth the wait.", gate=gate)], model="gpt-test")
            await sender.command("Finish me during the shutdown", response_url=slack.response_url())
            await llm_server.wait_for("POST /v1/chat/completions", 4, timeout=30)
            _, busy = await get(session, f"{base}/metrics")
            assert sample(busy, "consensus_batches_in_flight") == 1
            proc.send_signal(signal.SIGTERM)
            for _ in range(600):  # the signal is handled asynchronously: wait for the drain to begin
                status, body = await get(session, f"{base}/readyz")
                if status != 200:
                    break
                await asyncio.sleep(0.05)
            assert status == 503 and "shutting down" in json.loads(body)["reasons"]
            refused, reply = await sender.command("A new question while stopping", response_url=slack.response_url())
            assert refused == 200 and "restarting" in reply
            gate.set()
            assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        await ensure_stopped(proc)
        assert proc.stderr is not None
        stderr = (await proc.stderr.read()).decode()

    assert final(slack, 1), "the question in flight at SIGTERM did not finish"
    assert len(parents(slack)) == 2, "a question asked during the drain was taken"
    records = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r.get("batch_id") and r.get("conversation_id") for r in records), "no line names its question"
    for name, value in SECRETS.items():
        assert value not in stderr, f"{name} leaked into the logs"

"""Fixtures for the Slack adapter tests: the fake Web API and a client pointed at it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio

from adapters.retrying import Backoff
from adapters.slack.app import SlackBot, build_slack_app
from adapters.slack.pacing import Pacing
from core.domain import Batch, Platform, WorkspaceRef
from core.service import ConsensusService
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.slack_api import TEAM, FakeSlackAPI, Message
from tests.fakes.slack_signing import SlackSender, block_action


@pytest_asyncio.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    fake = FakeSlackAPI()
    await fake.start()
    fake.add_user("U1", "alice")
    fake.add_user("U2", "bob")
    fake.add_user("UADMIN", "root", is_admin=True)
    try:
        yield fake
    finally:
        await fake.stop()


SECRET = "test-signing-secret"
MODELS = ("openai/gpt-test", "anthropic/claude-test", "ollama/llama-test")
FAST = Pacing(update_rate=200, update_burst=200, post_rate=200, post_burst=200, retry=Backoff(base=0.01))


@dataclass
class SlackEnv:
    api: FakeSlackAPI
    llm: FakeLLMServer
    service: ConsensusService
    bot: SlackBot
    send: SlackSender

    @property
    def ws(self) -> WorkspaceRef:
        return WorkspaceRef(Platform.SLACK, TEAM)

    async def command(self, text: str, **kw: Any) -> tuple[int, str]:
        return await self.send.command(text, response_url=self.api.response_url(), **kw)

    async def click(self, verb: str, answer_id: int, *, user: str = "U1", team: str = TEAM) -> None:
        ref = await self.service.message_for(self.ws, "answer", answer_id)
        payload = block_action(
            f"consensus:{verb}:{answer_id}",
            response_url=self.api.response_url(),
            user=user,
            team=team,
            message_ts=ref.message_id if ref else "1.1",
            thread_ts=self.thread_ts(),
        )
        status, _ = await self.send.action(payload)
        assert status == 200

    def screen(self, channel: str = "C1") -> str:
        """Everything visible in the channel (text and blocks of every live message), as one string."""
        shown = [[m.text, m.blocks] for m in self.api.channel(channel) if not m.deleted]
        return json.dumps(shown, ensure_ascii=False)

    def parents(self, channel: str = "C1") -> list[Message]:
        return [m for m in self.api.channel(channel) if m.thread_ts is None]

    def thread_ts(self, index: int = 0) -> str:
        return self.parents()[index].ts

    def cards(self, index: int = 0) -> list[Message]:
        return self.api.thread("C1", self.thread_ts(index))

    async def card_of(self, answer_id: int) -> Message:
        ref = await self.service.message_for(self.ws, "answer", answer_id)
        assert ref is not None
        return self.api.messages[ref.channel][ref.message_id]

    async def ask(self, text: str = "What is 2+2?", models: int = len(MODELS)) -> Batch:
        """Ask through Slack, wait until every card is final and ranked; return the stored batch."""
        before = len(self.parents())
        status, _ = await self.command(text)
        assert status == 200
        await self.api.wait_until(lambda: len(self.parents()) > before and len(self.cards(before)) >= models)
        await self.settle()
        batch_ref = self.parents()[before]
        batches = [
            t.batch for t in self.bot.renderer.threads.values() if t.question and t.question.message_id == batch_ref.ts
        ]
        return await self.service.get_batch(batches[0].id, self.ws)

    async def settle(self) -> None:
        """Until the models are done and every queued card update reached the fake."""
        await self.service.wait_idle()
        for thread in list(self.bot.renderer.threads.values()):
            await thread.posted.wait()
        for _ in range(3):
            await asyncio.sleep(0.01)
            await self.bot.pacer.flush()


@pytest_asyncio.fixture
async def slack_env(
    slack_api: FakeSlackAPI, llm_server: FakeLLMServer, make_service: Callable[..., Awaitable[ConsensusService]]
) -> AsyncIterator[SlackEnv]:
    service = await make_service(models=MODELS)
    bot = build_slack_app(service, bot_token="xoxb-test", signing_secret=SECRET, api_url=slack_api.api_url, pacing=FAST)
    await bot.start("127.0.0.1", 0)
    session = aiohttp.ClientSession()
    sender = SlackSender(session, f"http://127.0.0.1:{bot.port}/slack/events", SECRET)
    try:
        yield SlackEnv(slack_api, llm_server, service, bot, sender)
    finally:
        await service.wait_idle()
        await bot.stop()
        await session.close()

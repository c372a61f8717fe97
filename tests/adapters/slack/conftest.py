"""Fixtures for the Slack adapter tests: the fake Web API and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.slack_api import FakeSlackAPI


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

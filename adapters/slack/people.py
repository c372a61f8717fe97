"""Who is who: display names and workspace-admin status from users.info, cached for a while."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.pacing import slack_error

log = logging.getLogger(__name__)


class People:
    def __init__(self, client: AsyncWebClient, *, ttl: float = 600.0) -> None:
        self.client = client
        self.ttl = ttl
        self._info: dict[tuple[str, str], tuple[float, str, bool]] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._urls: dict[str, str | None] = {}
        self._url_lookups: dict[str, asyncio.Task[str | None]] = {}

    def remember_name(self, team: str, user: str, name: str | None) -> None:
        """Slash commands carry `user_name`: keep it, so rendering needs no API call."""
        if name:
            self._names[(team, user)] = name

    async def _lookup(self, team: str, user: str) -> tuple[str, bool]:
        cached = self._info.get((team, user))
        if cached and cached[0] > time.monotonic():
            return cached[1], cached[2]
        try:
            response = await self.client.users_info(user=user)
            data = response.get("user") or {}
            name = str(data.get("name") or data.get("real_name") or user)
            admin = bool(data.get("is_admin") or data.get("is_owner") or data.get("is_primary_owner"))
            if data.get("team_id") not in (None, team) and not data.get("enterprise_user"):
                admin = False  # an admin of another workspace is not an admin here
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user, slack_error(exc))
            return self._names.get((team, user), user), False
        self._info[(team, user)] = (time.monotonic() + self.ttl, name, admin)
        return name, admin

    async def is_admin(self, team: str, user: str) -> bool:
        return (await self._lookup(team, user))[1]

    async def name(self, team: str, user: str) -> str:
        known = self._names.get((team, user))
        return known if known else (await self._lookup(team, user))[0]

    async def names(self, team: str, users: Iterable[str]) -> dict[str, str]:
        return {user: await self.name(team, user) for user in set(users)}

    async def workspace_url(self, team: str) -> str | None:
        """The workspace's own URL (from auth.test), for links to threads."""
        self.look_up_url(team)
        lookup = self._url_lookups.get(team)
        return self._urls.get(team) if lookup is None else await asyncio.shield(lookup)

    def look_up_url(self, team: str) -> None:
        """Start looking up the workspace's URL unless it is known or on its way: a question's
        ranking links to its cards, and should not wait for the lookup when it comes."""
        if team in self._urls or team in self._url_lookups:
            return
        lookup = self._url_lookups[team] = asyncio.create_task(self._auth_test(team))
        lookup.add_done_callback(lambda _done: self._url_lookups.pop(team, None))

    async def _auth_test(self, team: str) -> str | None:
        try:
            response = await self.client.auth_test()
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("auth.test failed: %s", slack_error(exc) if isinstance(exc, SlackApiError) else exc)
            return None  # links are left out; the next question looks again
        self._urls[team] = str(response.get("url") or "") or None
        return self._urls[team]

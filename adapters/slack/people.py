"""Who is who: display names and workspace-admin status from users.info, cached for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

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
        if team not in self._urls:
            try:
                response = await self.client.auth_test()
                self._urls[team] = str(response.get("url") or "") or None
            except SlackApiError:
                return None
        return self._urls[team]

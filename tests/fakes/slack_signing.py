"""Sign requests the way Slack does, and build the payloads Slack sends (written independently of
slack_sdk's verifier, so a bug there cannot hide one here)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fakes.slack_api import TEAM

FORM = "application/x-www-form-urlencoded"
_triggers = itertools.count(1)


def new_trigger_id() -> str:
    """A fresh trigger_id, as Slack gives each command and click its own."""
    return f"{next(_triggers)}.1700000000.{time.time_ns():x}"


def signed_headers(secret: str, body: str, *, timestamp: int | None = None, content_type: str = FORM) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


def slash_command(
    text: str,
    *,
    response_url: str,
    command: str = "/consensus",
    team: str = TEAM,
    channel: str = "C1",
    user: str = "U1",
    user_name: str = "alice",
    trigger_id: str | None = None,
) -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": team,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }


def block_action(
    action_id: str,
    *,
    response_url: str,
    team: str = TEAM,
    channel: str = "C1",
    user: str = "U1",
    message_ts: str = "1700000000.000002",
    thread_ts: str | None = None,
    container_type: str = "message",
) -> dict[str, Any]:
    container: dict[str, Any] = {"type": container_type}
    message: dict[str, Any] = {"type": "message", "ts": message_ts, "bot_id": "BBOT", "text": "card"}
    if container_type == "message":
        container.update({"message_ts": message_ts, "channel_id": channel, "is_ephemeral": False})
        if thread_ts:
            container["thread_ts"] = thread_ts
            message["thread_ts"] = thread_ts
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team, "domain": "test"},
        "api_app_id": "A1",
        "user": {"id": user, "username": user, "team_id": team},
        "container": container,
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": action_id,
                "text": {"type": "plain_text", "text": "x"},
                "action_ts": str(time.time()),
            }
        ],
    }
    if container_type == "message":
        payload["channel"] = {"id": channel, "name": "general"}
        payload["message"] = message
    return payload


def view_submission(
    callback_id: str, values: dict[str, Any], *, team: str = TEAM, user: str = "U1", private_metadata: str = ""
) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "test"},
        "api_app_id": "A1",
        "user": {"id": user, "username": user, "team_id": team},
        "trigger_id": "1.2.3",
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": callback_id,
            "team_id": team,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "h",
        },
    }


def state_of(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """The `state.values` Slack would send for `view` filled in with `answers` (action_id → answer):
    a str for text inputs, a value (or list of values) for selects, radios and checkboxes. Values
    must be among the element's options, as in Slack."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        action, kind = element.get("action_id"), element.get("type")
        if block.get("type") != "input" or action not in answers:
            continue
        answer = answers[action]
        options = {o["value"]: o for o in element.get("options", [])}
        if kind == "plain_text_input":
            state: dict[str, Any] = {"type": kind, "value": answer}
        elif kind == "multi_conversations_select":  # any conversation ids: Slack lists the workspace's
            state = {"type": kind, "selected_conversations": list(answer)}
        elif kind in ("static_select", "radio_buttons"):
            state = {"type": kind, "selected_option": options[answer] if answer is not None else None}
        else:  # multi_static_select, checkboxes
            state = {"type": kind, "selected_options": [options[v] for v in answer]}
        values[block["block_id"]] = {action: state}
    return values


def event_callback(event: dict[str, Any], *, event_id: str, team: str = TEAM) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": team,
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
    }


def thread_reply(
    text: str, *, thread_ts: str, ts: str, channel: str = "C1", user: str = "U1", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "channel_type": "channel",
        **extra,
    }


def encode_form(fields: dict[str, str]) -> str:
    return urlencode(fields)


def encode_payload(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


class SlackSender:
    """Sends signed requests to the app under test, as Slack would."""

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session, self.url, self.secret = session, url, secret

    async def send(
        self,
        body: str,
        *,
        content_type: str = FORM,
        secret: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        sent = signed_headers(secret or self.secret, body, timestamp=timestamp, content_type=content_type)
        sent.update(headers or {})
        async with self.session.post(self.url, data=body.encode(), headers=sent) as response:
            return response.status, await response.text()

    async def command(self, text: str, **kw: Any) -> tuple[int, str]:
        return await self.send(encode_form(slash_command(text, **kw)))

    async def action(self, payload: dict[str, Any]) -> tuple[int, str]:
        return await self.send(encode_payload(payload))

    async def event(self, payload: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return await self.send(json.dumps(payload), content_type="application/json", **kw)

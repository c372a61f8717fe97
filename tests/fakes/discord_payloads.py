"""JSON for the fake Discord: factories for guilds, members, channels, interactions (API v10
shapes), and the parser of the bot's request bodies (JSON or multipart with `payload_json`).

Button clicks and select choices are built from the message the bot really sent (taken from the
fake's store), because discord.py rebuilds a DynamicItem from `interaction.message.components`; a
modal submit (type 5) is built from the modal the bot really opened (callback type 9).
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count(1)

MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
READ_HISTORY = 1 << 16
USE_COMMANDS = 1 << 31
MEMBER_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY | USE_COMMANDS
MODERATOR_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_MESSAGES
ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD


def snowflake() -> str:
    """A fresh, increasing snowflake id (timestamp bits + a process-wide counter)."""
    ms = int(datetime.now(UTC).timestamp() * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_counter) & 0x3FFFFF))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: str | None = None, name: str = "someone", *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": user_id or snowflake(),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(
    usr: dict[str, Any], *, permissions: int = MEMBER_PERMISSIONS, roles: list[str] | None = None
) -> dict[str, Any]:
    return {
        "user": usr,
        "roles": roles or [],
        "joined_at": now_iso(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "permissions": str(permissions),
    }


def text_channel(guild_id: str, channel_id: str | None = None, name: str = "general") -> dict[str, Any]:
    return {
        "id": channel_id or snowflake(),
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def thread_channel(
    guild_id: str,
    parent_id: str,
    owner_id: str,
    name: str,
    thread_id: str | None = None,
    *,
    auto_archive_duration: int = 1440,
) -> dict[str, Any]:
    """A complete thread (type 11): discord.py needs message_count, member_count, total_message_sent."""
    return {
        "id": thread_id or snowflake(),
        "type": 11,
        "guild_id": guild_id,
        "parent_id": parent_id,
        "owner_id": owner_id,
        "name": name,
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
        "rate_limit_per_user": 0,
        "flags": 0,
        "last_message_id": None,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": auto_archive_duration,
            "archive_timestamp": now_iso(),
            "locked": False,
            "invitable": True,
            "create_timestamp": now_iso(),
        },
    }


def dm_channel(recipient: dict[str, Any], channel_id: str | None = None) -> dict[str, Any]:
    return {"id": channel_id or snowflake(), "type": 1, "recipients": [recipient], "last_message_id": None}


def guild(
    guild_id: str,
    *,
    name: str = "Test guild",
    channels: list[dict[str, Any]] | None = None,
    members: list[dict[str, Any]] | None = None,
    threads: list[dict[str, Any]] | None = None,
    owner_id: str | None = None,
) -> dict[str, Any]:
    everyone = {
        "id": guild_id,
        "name": "@everyone",
        "permissions": str(MEMBER_PERMISSIONS),
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    return {
        "id": guild_id,
        "name": name,
        "icon": None,
        "owner_id": owner_id or snowflake(),
        "roles": [everyone],
        "emojis": [],
        "stickers": [],
        "features": [],
        "channels": channels or [],
        "threads": threads or [],
        "members": members or [],
        "member_count": len(members or []),
        "large": False,
        "unavailable": False,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "joined_at": now_iso(),
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "afk_timeout": 300,
        "mfa_level": 0,
        "nsfw_level": 0,
        "system_channel_flags": 0,
    }


def _interaction(
    kind: int,
    data: dict[str, Any],
    app_id: str,
    *,
    channel: dict[str, Any],
    guild_id: str | None,
    mem: dict[str, Any] | None,
    usr: dict[str, Any] | None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": snowflake(),
        "application_id": app_id,
        "type": kind,
        "token": f"itoken-{snowflake()}",
        "version": 1,
        "channel_id": channel["id"],
        "channel": channel,
        "data": data,
        "locale": "en-US",
        "attachment_size_limit": 10 * 1024 * 1024,
        "entitlements": [],
        "app_permissions": "0",
        "authorizing_integration_owners": {"0": guild_id or "0"},
        "context": 0 if guild_id else 1,
    }
    if guild_id is not None:
        payload["guild_id"] = guild_id
        payload["guild_locale"] = "en-US"
        payload["member"] = mem
    else:
        payload["user"] = usr
    if message is not None:
        payload["message"] = message
    return payload


def _option(name: str, value: Any) -> dict[str, Any]:
    """A command option typed as Discord sends it: boolean 5, integer 4, number 10, string 3."""
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10 if isinstance(value, float) else 3
    return {"name": name, "type": kind, "value": value}


def slash_command(
    app_id: str,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    channel: dict[str, Any],
    guild_id: str | None = None,
    mem: dict[str, Any] | None = None,
    usr: dict[str, Any] | None = None,
    sub: str | None = None,
) -> dict[str, Any]:
    """A CHAT_INPUT command (type 2) in a guild text channel, a thread (pass the thread object) or a DM;
    with `sub`, a subcommand of the group `name` (e.g. `/consensus-keys set`)."""
    opts = [_option(k, v) for k, v in (options or {}).items()]
    if sub is not None:
        opts = [{"name": sub, "type": 1, "options": opts}]
    data = {"id": snowflake(), "name": name, "type": 1, "options": opts}
    return _interaction(2, data, app_id, channel=channel, guild_id=guild_id, mem=mem, usr=usr)


def autocomplete(app_id: str, name: str, options: dict[str, Any], focused: str, **kwargs: Any) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE (type 4): the person is typing option `focused`."""
    payload = slash_command(app_id, name, options, **kwargs)
    payload["type"] = 4
    opts = payload["data"]["options"]
    for option in opts[0]["options"] if opts and opts[0]["type"] == 1 else opts:
        option["focused"] = option["name"] == focused
    return payload


def button_click(
    app_id: str,
    message: dict[str, Any],
    custom_id: str,
    *,
    channel: dict[str, Any],
    guild_id: str | None = None,
    mem: dict[str, Any] | None = None,
    usr: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A component interaction (type 3) on a message the bot really sent (from the fake's store)."""
    ids = [c.get("custom_id") for row in message.get("components", []) for c in row.get("components", [])]
    if custom_id not in ids:
        raise AssertionError(f"{custom_id!r} is not on message {message['id']}: {ids}")
    data = {"custom_id": custom_id, "component_type": 2}
    return _interaction(3, data, app_id, channel=channel, guild_id=guild_id, mem=mem, usr=usr, message=message)


def select_choice(
    app_id: str,
    message: dict[str, Any],
    custom_id: str,
    values: list[str],
    *,
    channel: dict[str, Any],
    guild_id: str | None = None,
    mem: dict[str, Any] | None = None,
    forged: bool = False,
) -> dict[str, Any]:
    """A string select (type 3 component) chosen on a message the bot really sent. Unless `forged`,
    the values must be among the select's options, as Discord's client allows."""
    selects = [
        c
        for row in message.get("components", [])
        for c in row.get("components", [])
        if c.get("custom_id") == custom_id and c.get("type") == 3
    ]
    if not selects:
        raise AssertionError(f"no select {custom_id!r} on message {message['id']}")
    offered = {o["value"] for o in selects[0].get("options", [])}
    if not forged and not set(values) <= offered:
        raise AssertionError(f"{values} are not all offered by {custom_id!r}: {sorted(offered)}")
    data = {"custom_id": custom_id, "component_type": 3, "values": values}
    return _interaction(3, data, app_id, channel=channel, guild_id=guild_id, mem=mem, usr=None, message=message)


def _submitted(component: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    """One component of a modal, as a submit carries it: text inputs with their values."""
    if component["type"] == 1:
        return {"type": 1, "components": [_submitted(c, values) for c in component["components"]]}
    if component["type"] == 18:
        return {"type": 18, "id": component.get("id"), "component": _submitted(component["component"], values)}
    if component["type"] != 4:
        return {"type": component["type"], "id": component.get("id")}
    cid, value = component["custom_id"], values.get(component["custom_id"], "")
    if component.get("required", True) and not value:
        raise AssertionError(f"the required input {cid!r} was left empty")
    if len(value) > int(component.get("max_length") or 4000) or len(value) < int(component.get("min_length") or 0):
        raise AssertionError(f"Discord's client would not accept {len(value)} characters in {cid!r}")
    return {"type": 4, "id": component.get("id"), "custom_id": cid, "value": value}


def modal_submit(
    app_id: str,
    modal: dict[str, Any],
    values: dict[str, str],
    *,
    channel: dict[str, Any],
    guild_id: str | None = None,
    mem: dict[str, Any] | None = None,
    usr: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A MODAL_SUBMIT (type 5) of a modal the bot opened (`FakeDiscord.modal_for`), with the person's
    input per text input custom_id."""
    data = {"custom_id": modal["custom_id"], "components": [_submitted(c, values) for c in modal["components"]]}
    return _interaction(5, data, app_id, channel=channel, guild_id=guild_id, mem=mem, usr=usr)


def user_message(
    channel: dict[str, Any],
    author: dict[str, Any],
    content: str,
    *,
    guild_id: str | None = None,
    mem: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload written by a person."""
    msg: dict[str, Any] = {
        "id": snowflake(),
        "channel_id": channel["id"],
        "author": author,
        "content": content,
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }
    if guild_id is not None:
        msg["guild_id"] = guild_id
        if mem is not None:
            msg["member"] = {k: v for k, v in mem.items() if k != "user"}
    return msg


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with `Content-Type: application/json` exactly (discord.py compares the header by equality)."""
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


def error_response(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status)


async def request_body(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    raw = await request.read()
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("multipart/"):
        return multipart(ctype, raw)
    return (json.loads(raw) if raw else {}), {}


def multipart(ctype: str, raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    data: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for part in parsed.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if name == "payload_json":
            data = json.loads(content)
        elif isinstance(name, str):
            files[name] = content
    return data, files


@dataclass
class World:
    """One guild with a text channel and four people: an asker, a bystander, a moderator and an admin."""

    guild_id: str = field(default_factory=snowflake)
    channel_id: str = field(default_factory=snowflake)
    asker: dict[str, Any] = field(default_factory=lambda: user(name="asker"))
    other: dict[str, Any] = field(default_factory=lambda: user(name="bystander"))
    moderator: dict[str, Any] = field(default_factory=lambda: user(name="moderator"))
    admin: dict[str, Any] = field(default_factory=lambda: user(name="admin"))  # Manage Server

    def member(self, usr: dict[str, Any]) -> dict[str, Any]:
        perms = {id(self.moderator): MODERATOR_PERMISSIONS, id(self.admin): ADMIN_PERMISSIONS}
        return member(usr, permissions=perms.get(id(usr), MEMBER_PERMISSIONS))

    @property
    def channel(self) -> dict[str, Any]:
        return text_channel(self.guild_id, self.channel_id)

    def guild(self) -> dict[str, Any]:
        people = [self.member(u) for u in (self.asker, self.other, self.moderator, self.admin)]
        return guild(self.guild_id, channels=[self.channel], members=people)

"""Modal building blocks and reading a view_submission's state (pure functions)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from adapters.slack.blocks import Block
from adapters.slack.text import plain

_CHANNEL = re.compile(r"^[CDG][A-Z0-9]{1,30}$")


def option(value: str, text: str, description: str | None = None) -> dict[str, Any]:
    chosen: dict[str, Any] = {"text": {"type": "plain_text", "text": plain(text, 75)}, "value": value[:150]}
    if description:
        chosen["description"] = {"type": "plain_text", "text": plain(description, 75)}
    return chosen


def input_block(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str | None = None
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "element": element,
        "label": {"type": "plain_text", "text": plain(label, 2000)},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": plain(hint, 2000)}
    return block


def modal(callback_id: str, title: str, blocks: list[Block], *, channel: str | None) -> dict[str, Any]:
    """A modal with Save/Cancel; private_metadata carries only the channel to reply in."""
    metadata = {"channel": channel} if channel and _CHANNEL.match(channel) else {}
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": plain(title, 24)},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def state_values(view: Mapping[str, Any]) -> dict[str, Any]:
    values = (view.get("state") or {}).get("values") or {}
    return values if isinstance(values, dict) else {}


def field(values: Mapping[str, Any], block: str, action: str) -> dict[str, Any]:
    found = (values.get(block) or {}).get(action) or {}
    return found if isinstance(found, dict) else {}


def selected(values: Mapping[str, Any], block: str, action: str) -> str:
    """The value of a static select's or a radio group's choice; "" when none."""
    choice = field(values, block, action).get("selected_option") or {}
    return str(choice.get("value") or "") if isinstance(choice, dict) else ""


def selected_all(values: Mapping[str, Any], block: str, action: str) -> list[str]:
    """The values chosen in a multi-select or a checkbox group."""
    chosen = field(values, block, action).get("selected_options") or []
    return [str(o.get("value") or "") for o in chosen if isinstance(o, dict)]


def selected_conversations(values: Mapping[str, Any], block: str, action: str) -> list[str]:
    """The channel ids chosen in a multi_conversations_select."""
    chosen = field(values, block, action).get("selected_conversations") or []
    return [str(c) for c in chosen if isinstance(c, str)]


def text_value(values: Mapping[str, Any], block: str, action: str) -> str:
    return str(field(values, block, action).get("value") or "")


def metadata_channel(view: Mapping[str, Any]) -> str | None:
    """The channel the modal was opened from, if private_metadata holds a channel id."""
    try:
        channel = json.loads(view.get("private_metadata") or "{}").get("channel")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) and _CHANNEL.match(channel) else None

"""What the bot says where an admin has not allowed it to answer: the same words on every platform
(Slack and Discord both link a channel as `<#id>`)."""

from __future__ import annotations

from collections.abc import Sequence


def channel_link(channel: str) -> str:
    return f"<#{channel}>"


def where_allowed(channels: Sequence[str]) -> str:
    links = ", ".join(channel_link(c) for c in channels)
    return f"Consensus does not answer in this channel. Ask in {links}."

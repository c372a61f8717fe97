"""`/consensus-keys set|list|delete`: people bring their own API keys, the server's admins the server's.

`set` opens a modal with one short text input, never prefilled. The modal is stateless: its
custom_id carries the provider, the scope and whether to check the key, and it is not kept in the
process, so a submit is handled on any replica and after a restart. The key goes straight to the
core (which checks, encrypts and stores it) and is never echoed: replies show the last 4 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import discord
from discord import app_commands

from adapters.discord.actors import actor_of
from adapters.discord.embeds import neutralise
from adapters.discord.replies import ANSWERED, guard
from core.errors import PermissionDeniedError
from core.keys import GENERIC_MAX, KeyInfo, KeyScope
from core.service import ConsensusService

Scope = Literal["me", "server"]
SCOPES: dict[str, KeyScope] = {"me": "user", "server": "workspace"}
KEY_INPUT = "key"
MODAL_PREFIX = "consensus-keys"
MODAL_ID = re.compile(
    rf"{MODAL_PREFIX}:(?P<provider>[a-z0-9][a-z0-9_.-]{{0,40}}):"
    r"(?P<scope>user|workspace):(?P<check>[01])"
)
SERVER_ONLY = "Only members with Manage Server can set the server's keys. You can set your own key with `scope: me`."
CHECKING = "Checking the key with a small call…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def whose(scope: KeyScope) -> str:
    return "the server's" if scope == "workspace" else "your"


def key_modal(provider: str, scope: KeyScope, check: bool) -> discord.ui.Modal:
    """The form for one key. Stopped before it is sent: nothing is kept in the process."""
    modal = discord.ui.Modal(
        title=_clip(f"API key: {provider}", 45), custom_id=f"{MODAL_PREFIX}:{provider}:{scope}:{int(check)}"
    )
    field: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id=KEY_INPUT,
        style=discord.TextStyle.short,
        required=True,
        max_length=GENERIC_MAX,
        placeholder="Paste the key",
    )
    modal.add_item(
        discord.ui.Label(
            text=_clip(f"{whose(scope).capitalize()} {provider} API key", 45),
            component=field,
            description="Stored encrypted. Only its last 4 characters are ever shown.",
        )
    )
    modal.stop()
    return modal


def submitted_value(data: Mapping[str, Any] | None, custom_id: str) -> str:
    """The value of one text input in a modal submit (inside labels or action rows)."""
    stack = list((data or {}).get("components", []))
    while stack:
        component = stack.pop()
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"])
        stack += component.get("components", [])
        if "component" in component:
            stack.append(component["component"])
    return ""


def saved_text(provider: str, info: KeyInfo) -> str:
    return f"🔑 Saved {whose(info.scope)} {provider} key {neutralise(info.hint)}. It is stored encrypted."


def listing(keys: list[KeyInfo]) -> str:
    if not keys:
        return "No API keys are stored for you or this server. Answers are paid with the operator's keys."
    lines = ["**API keys** (only the last 4 characters are ever shown)"]
    for key in keys:
        used = f"last used <t:{int(key.last_used_at.timestamp())}:R>" if key.last_used_at else "never used"
        scope = "server" if key.scope == "workspace" else "yours"
        line = f"• **{key.provider}** · {scope} · {neutralise(key.hint)} · {used}"
        if not key.readable:
            line += " · ⚠️ cannot be decrypted: set it again"
        lines.append(line)
    lines.append("Lookup order: your key, then the server's, then the operator's.")
    return "\n".join(lines)


class KeyCommands:
    def __init__(self, service: ConsensusService) -> None:
        self.service = service

    def register(self, tree: app_commands.CommandTree[Any]) -> None:
        group = app_commands.Group(name="consensus-keys", description="API keys that pay for your questions")

        async def providers(_: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
            names = [p for p in self.service.key_providers() if current.lower() in p]
            return [app_commands.Choice(name=p, value=p) for p in names[:25]]

        @group.command(name="set", description="Store an API key (a private form opens)")
        @app_commands.describe(
            provider="Whose API the key is for",
            scope="Yours, or the whole server's",
            check="Try the key with a small call after saving it",
        )
        @app_commands.autocomplete(provider=providers)
        async def set_key(
            interaction: discord.Interaction[Any], provider: str, scope: Scope = "me", check: bool = False
        ) -> None:
            await self.open_form(interaction, provider, SCOPES[scope], check)

        @group.command(name="list", description="Your keys and the server's (never the keys themselves)")
        async def list_keys(interaction: discord.Interaction[Any]) -> None:
            await self.list(interaction)

        @group.command(name="delete", description="Delete a stored API key")
        @app_commands.describe(provider="Whose API the key is for", scope="Yours, or the whole server's")
        @app_commands.autocomplete(provider=providers)
        async def delete_key(interaction: discord.Interaction[Any], provider: str, scope: Scope = "me") -> None:
            await self.delete(interaction, provider, SCOPES[scope])

        tree.add_command(group)

    async def open_form(
        self, interaction: discord.Interaction[Any], provider: str, scope: KeyScope, check: bool
    ) -> None:
        async with guard(interaction):
            known = self.service.key_providers()
            if provider not in known:
                await interaction.response.send_message(f"Keys can be set for: {', '.join(known)}.", ephemeral=True)
                return
            if scope == "workspace" and not actor_of(interaction).is_admin:
                raise PermissionDeniedError(SERVER_ONLY)  # before anyone pastes a key (the core checks too)
            await interaction.response.send_modal(key_modal(provider, scope, check))

    async def submitted(self, interaction: discord.Interaction[Any]) -> bool:
        """Handle a key form's submit; False when the modal is not ours."""
        data: Mapping[str, Any] = interaction.data or {}
        match = MODAL_ID.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return False
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            actor, provider = actor_of(interaction), match["provider"]
            scope: KeyScope = "workspace" if match["scope"] == "workspace" else "user"
            info = await self.service.set_key(actor, provider, submitted_value(data, KEY_INPUT), scope)
            text = saved_text(provider, info)
            if match["check"] == "1":  # slow: only now that the submit is acknowledged
                await interaction.edit_original_response(content=f"{text}\n{CHECKING}")
                interaction.extras[ANSWERED] = True
                text += "\n" + neutralise(await self.service.check_key(actor, provider))
            await interaction.edit_original_response(content=text)
            interaction.extras[ANSWERED] = True
        return True

    async def list(self, interaction: discord.Interaction[Any]) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            keys = await self.service.list_keys(actor_of(interaction))
            await interaction.edit_original_response(content=listing(keys))
            interaction.extras[ANSWERED] = True

    async def delete(self, interaction: discord.Interaction[Any], provider: str, scope: KeyScope) -> None:
        async with guard(interaction):
            await interaction.response.defer(ephemeral=True, thinking=True)
            gone = await self.service.delete_key(actor_of(interaction), provider, scope)
            text = (
                f"🗑️ Deleted {whose(scope)} {provider} key."
                if gone
                else f"There was no {provider} key of {'the server' if scope == 'workspace' else 'yours'}."
            )
            await interaction.edit_original_response(content=neutralise(text))
            interaction.extras[ANSWERED] = True

"""API keys from Slack: `/consensus keys` (a modal), `keys list` (with a Delete button per key) and
`keys delete <provider> [team]`.

The key itself travels only from Slack's view_submission to `service.set_key`: the modal never has
an initial value, and no reply, list, log line or private_metadata holds it (replies show the
4-character hint the core returns). The optional live check runs after the ack and is reported
ephemerally in the channel the command came from (carried in private_metadata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.base import HandlerBase, Reply, team_of, workspace
from adapters.slack.blocks import Block, Rendered, context, mrkdwn, section
from adapters.slack.forms import (
    input_block,
    metadata_channel,
    modal,
    option,
    selected,
    selected_all,
    state_values,
    text_value,
)
from adapters.slack.home import when
from adapters.slack.text import escape, plain
from core.domain import Actor
from core.errors import ConsensusError, PermissionDeniedError
from core.keys import KeyInfo, KeyScope

KEYS_CALLBACK = "consensus:keys"
PROVIDER_BLOCK, KEY_BLOCK, SCOPE_BLOCK, CHECK_BLOCK = (
    "consensus-key-provider",
    "consensus-key-value",
    "consensus-key-scope",
    "consensus-key-check",
)
PROVIDER, KEY, SCOPE, CHECK = "provider", "key", "scope", "check"
KEY_DELETE = re.compile(r"^consensus:key_delete:(user|workspace):([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
KEY_INPUT_MAX = 3000  # Slack's own cap; the core checks each provider's real length
SCOPE_NAMES: dict[str, str] = {"user": "Just me", "workspace": "Whole workspace"}


def keys_modal(providers: Mapping[str, str], *, admin: bool, channel: str | None) -> dict[str, Any]:
    """The modal: provider (name → label), key (never prefilled), scope, and "check it now"."""
    scopes = [option("user", SCOPE_NAMES["user"], "Your questions use it")]
    if admin:
        scopes.append(option("workspace", SCOPE_NAMES["workspace"], "Everyone's questions use it"))
    providers_shown = [option(name, label) for name, label in list(providers.items())[:100]]
    blocks: list[Block] = [
        section(
            "Questions are paid with your own key first, then the team's, then the operator's. "
            "Keys are stored encrypted; only their last 4 characters are ever shown."
        ),
        input_block(
            PROVIDER_BLOCK,
            "Provider",
            {
                "type": "static_select",
                "action_id": PROVIDER,
                "options": providers_shown,
                "placeholder": {"type": "plain_text", "text": "Choose a provider"},
            },
        ),
        input_block(
            KEY_BLOCK,
            "API key",
            {
                "type": "plain_text_input",
                "action_id": KEY,
                "max_length": KEY_INPUT_MAX,
                "placeholder": {"type": "plain_text", "text": "Paste the key"},
            },
            hint="Visible while you type: paste it where nobody is watching your screen.",
        ),
        input_block(
            SCOPE_BLOCK,
            "Who uses it",
            {"type": "radio_buttons", "action_id": SCOPE, "options": scopes, "initial_option": scopes[0]},
        ),
        input_block(
            CHECK_BLOCK,
            "Check",
            {
                "type": "checkboxes",
                "action_id": CHECK,
                "options": [option(CHECK, "Check the key now with a small test call")],
            },
            optional=True,
        ),
    ]
    if not admin:
        blocks.append(context("Only workspace admins can set a key for the whole workspace."))
    return modal(KEYS_CALLBACK, "API keys", blocks, channel=channel)


@dataclass(frozen=True, slots=True)
class KeysForm:
    provider: str
    key: str = field(repr=False)  # never in a repr, should the form end up in a log
    scope: KeyScope = "user"
    check: bool = False
    channel: str | None = None


def read_keys_form(view: Mapping[str, Any]) -> KeysForm:
    values = state_values(view)
    scope: KeyScope = "workspace" if selected(values, SCOPE_BLOCK, SCOPE) == "workspace" else "user"
    return KeysForm(
        provider=selected(values, PROVIDER_BLOCK, PROVIDER),
        key=text_value(values, KEY_BLOCK, KEY),
        scope=scope,
        check=CHECK in selected_all(values, CHECK_BLOCK, CHECK),
        channel=metadata_channel(view),
    )


def scope_words(info: KeyInfo) -> str:
    return "the whole workspace" if info.scope == "workspace" else "just you"


def saved_message(info: KeyInfo, label: str) -> str:
    return f"Saved the {label} key {info.hint} for {scope_words(info)}."


def keys_list(infos: Sequence[KeyInfo], labels: Mapping[str, str], *, admin: bool, command: str) -> Rendered:
    """Provider, scope, hint and last use of each key; a Delete button where the person may delete."""
    if not infos:
        return Rendered(
            [section(f"No API keys are stored for you or the workspace. Add one with `{escape(command)} keys`.")],
            "No API keys stored",
        )
    rows: list[Block] = [section("*API keys* (yours and the workspace's)")]
    for info in infos[:40]:
        used = f"last used {when(info.last_used_at)}" if info.last_used_at else "not used yet"
        facts = [f"*{escape(labels.get(info.provider, info.provider))}*", scope_words(info), escape(info.hint), used]
        if not info.readable:
            facts.append("⚠️ cannot be decrypted: set it again")
        row: Block = {"type": "section", "text": mrkdwn(" · ".join(facts))}
        ident = f"consensus:key_delete:{info.scope}:{info.provider}"
        if (info.scope == "user" or admin) and KEY_DELETE.match(ident):
            row["accessory"] = {
                "type": "button",
                "action_id": ident,
                "value": ident,
                "style": "danger",
                "text": {"type": "plain_text", "text": "Delete"},
                "confirm": {
                    "title": {"type": "plain_text", "text": "Delete this key?"},
                    "text": {
                        "type": "plain_text",
                        "text": plain(
                            f"Questions stop using the {labels.get(info.provider, info.provider)} key "
                            f"{info.hint} ({scope_words(info)}).",
                            300,
                        ),
                    },
                    "confirm": {"type": "plain_text", "text": "Delete"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                },
            }
        rows.append(row)
    return Rendered(rows, "API keys")


class KeysFlow(HandlerBase):
    """The keys listeners; mixed into SlackHandlers."""

    def labels(self) -> dict[str, str]:
        return {name: self.service.keys.label(name) for name in self.service.key_providers()}

    async def keys_command(self, rest: str, command: Mapping[str, Any], respond: Any) -> None:
        """After the ack: `keys` opens the modal, `keys list` lists, `keys delete P [team]` deletes."""
        team, user, channel = command["team_id"], command["user_id"], command.get("channel_id")
        reply = self._responder(respond)
        words = rest.split()
        verb = words[0].lower() if words else ""
        if verb == "list":
            await self._guard(reply, self._list(team, user, respond, replace=False))
        elif verb == "delete":
            await self._guard(reply, self._delete_by_name(team, user, words[1:], respond))
        else:
            await self._guard(reply, self._open_keys(team, user, channel, command["trigger_id"]))

    async def _open_keys(self, team: str, user: str, channel: str | None, trigger_id: str) -> None:
        admin = await self.people.is_admin(team, user)  # cached; views.open follows at once
        view = keys_modal(self.labels(), admin=admin, channel=channel)
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def _actor(self, team: str, user: str, scope: str) -> Actor:
        admin = scope == "workspace" and await self.people.is_admin(team, user)
        return Actor(workspace(team), user, is_admin=admin)

    async def on_keys_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = read_keys_form(view)
        team, user = team_of(body), body["user"]["id"]
        stored: list[KeyInfo] = []

        async def store() -> None:  # an encryption and one write: well inside the 3 s
            actor = await self._actor(team, user, form.scope)
            stored.append(await self.service.set_key(actor, form.provider, form.key, form.scope))
            await ack()

        def block_for(exc: ConsensusError) -> str:
            return SCOPE_BLOCK if isinstance(exc, PermissionDeniedError) else KEY_BLOCK

        await self._guard_modal(ack, store(), block_for)
        if not stored:
            return
        reply = self._ephemeral(form.channel, user)
        label = self.service.keys.label(form.provider)
        await self._safe_reply(reply, saved_message(stored[0], label))
        if form.check:  # a provider call: only now that Slack has its answer
            await self._guard(reply, self._check(team, user, form.provider, reply))

    async def _check(self, team: str, user: str, provider: str, reply: Reply) -> None:
        await reply(await self.service.check_key(Actor(workspace(team), user), provider))

    async def _list(self, team: str, user: str, respond: Any, *, replace: bool) -> None:
        admin = await self.people.is_admin(team, user)
        infos = await self.service.list_keys(Actor(workspace(team), user, is_admin=admin))
        shown = keys_list(infos, self.labels(), admin=admin, command=self.command)
        await respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral", replace_original=replace)

    async def _delete_by_name(self, team: str, user: str, words: Sequence[str], respond: Any) -> None:
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("team", "workspace")):
            raise ConsensusError(f"Usage: {self.command} keys delete <provider> [team]")
        scope: KeyScope = "workspace" if len(words) == 2 else "user"
        provider = words[0].lower()
        actor = await self._actor(team, user, scope)
        gone = await self.service.delete_key(actor, provider, scope)
        label = self.service.keys.label(provider)
        whose = "the workspace's" if scope == "workspace" else "your"
        message = f"Deleted {whose} {label} key." if gone else f"There was no {label} key of {whose} to delete."
        await self._responder(respond)(message)

    async def on_key_delete(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        match = KEY_DELETE.match(str(action.get("action_id") or ""))
        if match is None:
            return
        team, user = team_of(body), body["user"]["id"]
        await self._guard(self._responder(respond), self._delete_clicked(team, user, match, respond))

    async def _delete_clicked(self, team: str, user: str, match: re.Match[str], respond: Any) -> None:
        scope: KeyScope = "workspace" if match.group(1) == "workspace" else "user"
        await self.service.delete_key(await self._actor(team, user, scope), match.group(2), scope)
        await self._list(team, user, respond, replace=True)  # the list, as it is now

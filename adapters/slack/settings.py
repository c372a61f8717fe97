"""`/consensus settings`: which models answer (for the workspace, or only this channel), the channels
where the bot answers, the daily budget, the questions per minute and when answers are merged (and by
which model), in a modal for workspace admins.

The adapter only reads the form: numbers it cannot read are shown under their field; whatever the
core refuses (too many models, an unknown one, a negative budget) is shown under the field the
refusal is about, and the modal stays open.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.presenter.card import MERGING_WORDS
from adapters.presenter.channels import channel_link
from adapters.presenter.cost import threshold_words
from adapters.slack.base import HandlerBase, modal_error, team_of, workspace
from adapters.slack.blocks import Block, context, section
from adapters.slack.forms import (
    input_block,
    metadata_channel,
    modal,
    option,
    selected,
    selected_all,
    selected_conversations,
    state_values,
    text_value,
)
from core.domain import Actor, Merging
from core.errors import ConsensusError, InvalidSettingsError
from core.settings import MAX_ALLOWED_CHANNELS, MAX_MODELS, ModelSettings

SETTINGS_CALLBACK = "consensus:settings"
MODELS_BLOCK, CHANNEL_BLOCK, ALLOWED_BLOCK, BUDGET_BLOCK, RATE_BLOCK = (
    "consensus-settings-models",
    "consensus-settings-channel",
    "consensus-settings-allowed",
    "consensus-settings-budget",
    "consensus-settings-rate",
)
MODELS, ONLY_CHANNEL, ALLOWED, BUDGET, RATE = "models", "only_channel", "allowed", "budget", "rate"
CONFIRM_BLOCK, CONFIRM = "consensus-settings-confirm", "confirm_above"
MERGING_BLOCK, MERGER_BLOCK, MERGING, MERGER = (
    "consensus-settings-merging",
    "consensus-settings-merger",
    "merging",
    "merger",
)
DEFAULT_MERGER = "default"  # the merger select's "operator's default" (an option's value cannot be empty)
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
ADMINS_ONLY = (
    "Only workspace admins can choose the models and limits. You can still pay with your own API key: `{command} keys`."
)


def _number(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_modal(settings: ModelSettings, *, channel: str | None) -> dict[str, Any]:
    available = settings.available[:100]
    chosen = [m for m in (settings.channel_models or settings.models or settings.available) if m in available]
    blocks: list[Block] = []
    if available:
        element: dict[str, Any] = {
            "type": "multi_static_select",
            "action_id": MODELS,
            "max_selected_items": MAX_MODELS,
            "options": [option(m, m) for m in available],
        }
        if chosen:
            element["initial_options"] = [option(m, m) for m in chosen[:MAX_MODELS]]
        blocks.append(
            input_block(
                MODELS_BLOCK,
                "Models that answer",
                element,
                optional=True,
                hint=f"Up to {MAX_MODELS}. Leave empty to use all the operator's models.",
            )
        )
    else:
        blocks.append(section("No models are configured on this server; the operator sets CONSENSUS_MODELS."))
    if channel:
        only: dict[str, Any] = {
            "type": "checkboxes",
            "action_id": ONLY_CHANNEL,
            "options": [option(ONLY_CHANNEL, "Only in this channel")],
        }
        if settings.channel_models is not None:
            only["initial_options"] = only["options"]
        blocks.append(
            input_block(
                CHANNEL_BLOCK,
                "Where",
                only,
                optional=True,
                hint="Ticked: other channels keep the workspace's models; with no models "
                "chosen, this channel goes back to them.",
            )
        )
    allowed: dict[str, Any] = {
        "type": "multi_conversations_select",
        "action_id": ALLOWED,
        "max_selected_items": MAX_ALLOWED_CHANNELS,
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        "placeholder": {"type": "plain_text", "text": "every channel"},
    }
    if settings.allowed_channels:
        allowed["initial_conversations"] = list(settings.allowed_channels[:MAX_ALLOWED_CHANNELS])
    blocks.append(
        input_block(
            ALLOWED_BLOCK,
            "Channels where Consensus answers",
            allowed,
            optional=True,
            hint="Elsewhere it tells the asker privately where to ask. Empty: every channel.",
        )
    )
    budget: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": BUDGET,
        "max_length": 20,
        "placeholder": {"type": "plain_text", "text": "no limit"},
    }
    rate: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": RATE,
        "max_length": 10,
        "placeholder": {"type": "plain_text", "text": "no limit"},
    }
    confirm: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": CONFIRM,
        "max_length": 20,
        "placeholder": {"type": "plain_text", "text": "never"},
    }
    if settings.confirm_above_usd is not None:
        confirm["initial_value"] = _number(settings.confirm_above_usd)
    if settings.daily_budget_usd is not None:
        budget["initial_value"] = _number(settings.daily_budget_usd)
    if settings.questions_per_minute is not None:
        rate["initial_value"] = _number(settings.questions_per_minute)
    blocks += [
        input_block(
            BUDGET_BLOCK,
            "Daily budget (US dollars)",
            budget,
            optional=True,
            hint="For the whole workspace; questions resume at 00:00 UTC. Empty: the operator's default.",
        ),
        input_block(
            RATE_BLOCK, "Questions per minute, per person", rate, optional=True, hint="Empty: the operator's default."
        ),
        input_block(
            CONFIRM_BLOCK,
            "Confirm questions estimated above (US dollars)",
            confirm,
            optional=True,
            hint="Above this estimate the asker confirms first (Ask / Cancel). Empty: never.",
        ),
        context("Limits apply to the whole workspace, whichever channel you are in."),
        *merging_blocks(settings),
    ]
    return modal(SETTINGS_CALLBACK, "Consensus settings", blocks, channel=channel)


def merging_blocks(settings: ModelSettings) -> list[Block]:
    """When answers are merged into one (Merge), and which model writes the merge."""
    when = [option(m.value, MERGING_WORDS[m]) for m in Merging]
    merging: dict[str, Any] = {
        "type": "static_select",
        "action_id": MERGING,
        "options": when,
        "initial_option": when[list(Merging).index(settings.merging)],
    }
    default = option(DEFAULT_MERGER, "The operator's default")
    models = [default, *(option(m, m) for m in settings.mergers[:99])]
    merger: dict[str, Any] = {
        "type": "static_select",
        "action_id": MERGER,
        "options": models,
        "initial_option": next((o for o in models if o["value"] == settings.merger), default),
    }
    return [
        input_block(
            MERGING_BLOCK,
            "Merged answer",
            merging,
            hint="One answer written from the kept answers, where they agree and differ.",
        ),
        input_block(MERGER_BLOCK, "Model that merges", merger, hint="The default: the top-ranked answer's model."),
    ]


@dataclass(frozen=True, slots=True)
class SettingsForm:
    models: tuple[str, ...]
    channel: str | None  # set when "only in this channel" is ticked
    allowed_channels: tuple[str, ...] | None  # None: every channel
    daily_budget_usd: float | None
    questions_per_minute: int | None
    merging: Merging = Merging.ON_REQUEST
    merger: str | None = None  # None: the operator's default
    confirm_above_usd: float | None = None  # None: never ask first


class FormError(Exception):
    """A field the adapter could not read: shown under `block`."""

    def __init__(self, block: str, message: str) -> None:
        super().__init__(message)
        self.block = block


def read_settings_form(view: Mapping[str, Any]) -> SettingsForm:
    values = state_values(view)
    channel = metadata_channel(view) if ONLY_CHANNEL in selected_all(values, CHANNEL_BLOCK, ONLY_CHANNEL) else None
    budget = _dollars(text_value(values, BUDGET_BLOCK, BUDGET), BUDGET_BLOCK)
    confirm = _dollars(text_value(values, CONFIRM_BLOCK, CONFIRM), CONFIRM_BLOCK)
    rate_text = text_value(values, RATE_BLOCK, RATE).strip()
    try:
        rate = int(rate_text) if rate_text else None
    except ValueError:
        raise FormError(RATE_BLOCK, "Enter a whole number, like 5, or leave it empty.") from None
    merger = selected(values, MERGER_BLOCK, MERGER)
    allowed = tuple(selected_conversations(values, ALLOWED_BLOCK, ALLOWED))
    return SettingsForm(
        tuple(selected_all(values, MODELS_BLOCK, MODELS)),
        channel,
        allowed or None,
        budget,
        rate,
        Merging.of(selected(values, MERGING_BLOCK, MERGING) or None),
        None if merger in ("", DEFAULT_MERGER) else merger,
        confirm,
    )


def _dollars(typed: str, block: str) -> float | None:
    text = typed.strip().removeprefix("$").strip()
    if _THOUSANDS.fullmatch(text):  # "1,500.00"; a decimal comma ("1,5") is not guessed at
        text = text.replace(",", "")
    try:
        return float(text) if text else None
    except ValueError:
        raise FormError(block, "Enter an amount in US dollars, like 10 or 2.50, or leave it empty.") from None


def saved_message(models: Sequence[str], channel: str | None, limits: ModelSettings) -> str:
    where = "in this channel" if channel else "in this workspace"
    budget = (
        f"${limits.daily_budget_usd:,.2f} a day"
        if limits.daily_budget_usd is not None and math.isfinite(limits.daily_budget_usd)
        else "no daily budget"
    )
    rate = (
        f"{limits.questions_per_minute} questions per minute per person"
        if limits.questions_per_minute is not None
        else "no limit of questions per minute"
    )
    answers = (
        f"Consensus answers only in {', '.join(channel_link(c) for c in limits.allowed_channels)}"
        if limits.allowed_channels
        else "Consensus answers in every channel"
    )
    merging = f"Confirm before asking: {threshold_words(limits.confirm_above_usd)}. "
    merging += f"Merged answers: {MERGING_WORDS[limits.merging]}"
    merger = f", written by {limits.merger}" if limits.merger and limits.merging is not Merging.OFF else ""
    return (
        f"Saved. Questions {where} go to: {', '.join(models) or 'none'}. {answers}. Limits: {budget}, {rate}. "
        f"{merging}{merger}."
    )


class SettingsFlow(HandlerBase):
    """The settings listeners; mixed into SlackHandlers."""

    async def settings_command(self, command: Mapping[str, Any], respond: Any) -> None:
        team, user, channel = command["team_id"], command["user_id"], command.get("channel_id")
        await self._guard(
            self._responder(respond), self._open_settings(team, user, channel, command["trigger_id"], respond)
        )

    async def _open_settings(self, team: str, user: str, channel: str | None, trigger_id: str, respond: Any) -> None:
        admin = await self.people.is_admin(team, user)
        current = await self.service.model_settings(workspace(team), channel)
        if not admin:
            now = f" Questions here go to: {', '.join(current.effective) or 'none'}."
            await self._responder(respond)(ADMINS_ONLY.format(command=self.command) + now)
            return
        await self.client.views_open(trigger_id=trigger_id, view=settings_modal(current, channel=channel))

    async def on_settings_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        team, user = team_of(body), body["user"]["id"]
        try:
            form = read_settings_form(view)
        except FormError as exc:
            await ack(response_action="errors", errors={exc.block: modal_error(str(exc))})
            return
        saved: list[ModelSettings] = []
        stage = [BUDGET_BLOCK]

        async def apply() -> None:  # short writes: well inside the 3 s
            actor = Actor(workspace(team), user, is_admin=await self.people.is_admin(team, user))
            # The limits first: numbers are what people get wrong, and a refusal then changes nothing.
            # (Models come from the modal's own options, so only a stale or forged list is refused.)
            limits = await self.service.set_limits(
                actor, daily_budget_usd=form.daily_budget_usd, questions_per_minute=form.questions_per_minute
            )
            stage[0] = CONFIRM_BLOCK
            limits = await self.service.set_confirmation(actor, form.confirm_above_usd)
            stage[0] = MERGER_BLOCK
            limits = await self.service.set_merging(actor, form.merging, form.merger)
            stage[0] = ALLOWED_BLOCK
            limits = await self.service.set_allowed_channels(actor, form.allowed_channels)
            stage[0] = MODELS_BLOCK
            models = await self.service.set_models(actor, form.models, form.channel)
            saved.extend((models, limits))
            await ack()

        def block_for(exc: ConsensusError) -> str:
            if stage[0] == BUDGET_BLOCK and isinstance(exc, InvalidSettingsError):
                # set_limits refuses one of its two numbers; the budget's refusal names it
                return BUDGET_BLOCK if "budget" in exc.message.lower() else RATE_BLOCK
            return stage[0] if stage[0] in (CONFIRM_BLOCK, MERGER_BLOCK, ALLOWED_BLOCK) else MODELS_BLOCK

        await self._guard_modal(ack, apply(), block_for)
        if saved:
            await self._guard(
                self._ephemeral(metadata_channel(view), user),
                self._saved(team, user, form, metadata_channel(view), *saved),
            )

    async def _saved(
        self,
        team: str,
        user: str,
        form: SettingsForm,
        channel: str | None,
        models: ModelSettings,
        limits: ModelSettings,
    ) -> None:
        text = saved_message(models.effective, form.channel, limits)
        if channel and not form.channel:  # the workspace's choice changed; this channel may keep its own
            here = await self.service.model_settings(workspace(team), channel)
            if here.channel_models:
                text += (
                    f" This channel keeps its own choice ({', '.join(here.channel_models)}): to drop it, "
                    "tick “Only in this channel” and choose no models."
                )
        await self._ephemeral(channel, user)(text)

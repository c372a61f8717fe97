"""`/consensus` above the server's threshold: the asker sees the estimate privately with Ask / Cancel
before anything is stored. The estimate's store reads go on while the command is deferred, so they
never delay Discord's acknowledgement.

The pending question is held in this process's memory, keyed by the command's interaction id, for
14 minutes (the command's token can edit its private message for 15). The buttons are DynamicItems,
so a click that reaches a process that does not hold the question (after a restart, on another
replica, or too late) is answered honestly instead of failing silently. A second Ask asks nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from adapters.discord.replies import ANSWERED
from adapters.presenter import cost
from core.cost import Estimate
from core.domain import Question, WorkspaceRef
from core.errors import ConsensusError
from core.service import ConsensusService

log = logging.getLogger(__name__)
TEMPLATE = r"consensus-ask:(?P<choice>yes|no):(?P<nonce>\d{1,20})"
MAX_AGE = 14 * 60  # seconds
NOT_HELD = "This confirmation is no longer held (it expired, or the bot restarted); ask the question again."


@dataclass
class PendingAsk:
    shown: discord.WebhookMessage  # the private estimate, edited once asked
    user: str
    text: str
    held_at: float  # time.monotonic()
    asked: bool = False


class Confirmations:
    """The questions waiting for their asker's Ask, in this process."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingAsk] = {}

    def hold(self, nonce: str, pending: PendingAsk) -> None:
        now = time.monotonic()
        self._pending = {k: p for k, p in self._pending.items() if now - p.held_at <= MAX_AGE}
        self._pending[nonce] = pending

    def take(self, nonce: str, user: str, *, cancel: bool = False) -> PendingAsk:
        """The pending question for its asker's click; refused with the reason otherwise."""
        pending = self._pending.get(nonce)
        if pending is None or time.monotonic() - pending.held_at > MAX_AGE:
            self._pending.pop(nonce, None)
            raise ConsensusError(NOT_HELD)
        if pending.user != user:
            raise ConsensusError(cost.NOT_YOURS)
        if pending.asked:
            raise ConsensusError(cost.ALREADY_ASKED)
        if cancel:
            del self._pending[nonce]
        pending.asked = True
        return pending


class ConfirmHandler(Protocol):
    async def on_confirm_click(self, interaction: discord.Interaction[Any], ask: bool, nonce: str) -> None: ...


class ConfirmButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, ask: bool, nonce: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=cost.ASK if ask else cost.CANCEL,
                style=discord.ButtonStyle.primary if ask else discord.ButtonStyle.secondary,
                custom_id=f"consensus-ask:{'yes' if ask else 'no'}:{nonce}",
            )
        )
        self.ask, self.nonce = ask, nonce

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> ConfirmButton:
        return cls(match.group("choice") == "yes", match.group("nonce"))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ConfirmHandler = interaction.client
        await handler.on_confirm_click(interaction, self.ask, self.nonce)


def confirm_view(nonce: str) -> discord.ui.View:
    """Ask / Cancel as a stopped view: the clicks come back through the DynamicItem."""
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmButton(True, nonce))
    view.add_item(ConfirmButton(False, nonce))
    view.stop()
    return view


class Asking:
    """The estimate before a question is asked, and the Ask / Cancel above the threshold."""

    def __init__(self, service: ConsensusService) -> None:
        self.service = service
        self.held = Confirmations()

    async def hold(self, interaction: discord.Interaction[Any], text: str, estimate: Estimate) -> None:
        """The command was deferred publicly; its "thinking…" reply, which has shown nothing, gives
        way to the private estimate with Ask / Cancel."""
        nonce = str(interaction.id)
        await interaction.delete_original_response()
        shown = await interaction.followup.send(
            cost.confirmation(estimate), view=confirm_view(nonce), ephemeral=True, wait=True
        )
        self.held.hold(nonce, PendingAsk(shown, str(interaction.user.id), text, time.monotonic()))
        interaction.extras[ANSWERED] = True

    async def settle(self, interaction: discord.Interaction[Any], ask: bool, nonce: str) -> str | None:
        """The question to ask now, or None after Cancel (the private message then says so)."""
        pending = self.held.take(nonce, str(interaction.user.id), cancel=not ask)
        if not ask:
            await interaction.response.edit_message(content=cost.CANCELLED, view=None)
            return None
        try:  # the private estimate keeps no buttons; its token may be gone, which changes nothing
            await pending.shown.edit(content=cost.CONFIRMED, view=None)
        except discord.HTTPException:
            log.info("discord: could not update a confirmed estimate", exc_info=True)
        return pending.text

    async def estimate(self, interaction: discord.Interaction[Any], ws: WorkspaceRef, text: str) -> Estimate | None:
        """A few store reads before the acknowledgement; None when the question cannot be asked as it is.
        Its `needs_confirmation` says whether it waits for its asker's Ask."""
        channel = interaction.channel
        user = str(interaction.user.id)
        try:
            if isinstance(channel, discord.Thread):
                parent, tid = str(channel.parent_id), str(channel.id)
                conversation = await self.service.find_conversation(ws, parent, tid)
                return await self.service.estimate(Question(ws, parent, user, text, thread=tid), conversation)
            where = str(channel.id if channel is not None else interaction.channel_id)
            return await self.service.estimate(Question(ws, where, user, text))
        except ConsensusError:
            return None  # asking says what is wrong, in one place
        except Exception:  # the estimate never stands between a person and an answer
            log.warning("discord: could not estimate a question's cost", exc_info=True)
            return None

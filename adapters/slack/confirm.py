"""Asking with an estimate: `/consensus <question>` is acknowledged with what it will cost, and above
the workspace's threshold with a private Ask / Cancel first.

Nothing is stored before Ask: the pending question travels in the Ask button's `value` (Slack sends
it back, signed, with the click), compressed, with who asked where and when. A button's value holds
2,000 characters, so a question too long to carry is refused with a clear message. A click after
30 minutes (the life of the command's response_url), by someone else, or on a value that does not
read back is refused; a second Ask asks nothing (the command's trigger_id is claimed once).
The acknowledgement waits at most a second for the estimate (a few store reads); past that Slack is
answered at once and the estimate, or the Ask / Cancel, follows privately through the response_url.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from adapters.presenter import cost
from adapters.slack import blocks
from adapters.slack.base import HandlerBase, team_of, workspace
from adapters.slack.blocks import Block, Rendered, section
from adapters.slack.text import escape
from core.cost import Estimate
from core.domain import Question
from core.errors import ConsensusError, DuplicateDeliveryError

log = logging.getLogger(__name__)
ASK_ACTION, CANCEL_ACTION = "consensus-confirm:ask", "consensus-confirm:cancel"
VALUE_LIMIT = 2000  # Slack's limit for a button's value
MAX_AGE = 30 * 60  # seconds: as long as the command's response_url works
ACK_BUDGET = 1.0  # seconds the acknowledgement waits for the estimate (Slack allows 3)
MAX_RAW = 64 * 1024  # bytes a packed question inflates to at most (8,000 characters of UTF-8, and who/where)
TOO_LONG = (
    "This question is estimated at {estimate}, above this workspace's threshold, and is too long to hold "
    "for confirmation. Shorten it, or ask an admin to raise the threshold in `{command} settings`."
)


@dataclass(frozen=True, slots=True)
class Pending:
    """A question waiting for its asker's Ask."""

    team: str
    channel: str
    user: str
    text: str
    delivery: str  # the command's trigger_id (a reply's ts): the question is asked at most once
    asked_at: int  # Unix seconds
    conversation: int | None = None  # a reply in a conversation's thread: a follow-up
    thread: str | None = None

    def question(self) -> Question:
        ws = workspace(self.team)
        return Question(
            ws, self.channel, self.user, self.text, thread=self.thread, delivery=self.delivery, confirmed=True
        )


def pack(pending: Pending) -> str | None:
    """The button value carrying `pending`; None when it would not fit."""
    raw = json.dumps(asdict(pending), ensure_ascii=False, separators=(",", ":")).encode()
    value = base64.urlsafe_b64encode(zlib.compress(raw, 9)).decode()
    return value if len(value) <= VALUE_LIMIT else None


def unpack(value: str, *, now: float | None = None) -> Pending:
    """The pending question of a clicked Ask; a stale or unreadable value is "expired"."""
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.urlsafe_b64decode(value.encode()), MAX_RAW)
        if inflate.unconsumed_tail:  # more than any question we packed: not ours
            raise ValueError("too large")
        found = json.loads(raw)
        pending = Pending(**found)
    except (binascii.Error, zlib.error, ValueError, TypeError):
        raise ConsensusError(cost.EXPIRED) from None
    if not all(isinstance(v, str) for v in (pending.team, pending.channel, pending.user, pending.text)):
        raise ConsensusError(cost.EXPIRED)
    if not isinstance(pending.conversation, int | None) or not isinstance(pending.thread, str | None):
        raise ConsensusError(cost.EXPIRED)
    if not isinstance(pending.asked_at, int) or (now or time.time()) - pending.asked_at > MAX_AGE:
        raise ConsensusError(cost.EXPIRED)
    return pending


def confirm_message(estimate: Estimate, value: str) -> Rendered:
    """The private Ask / Cancel; Cancel needs nothing, so it carries nothing."""
    buttons: list[Block] = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": cost.ASK},
            "action_id": ASK_ACTION,
            "value": value,
            "style": "primary",
        },
        {"type": "button", "text": {"type": "plain_text", "text": cost.CANCEL}, "action_id": CANCEL_ACTION},
    ]
    said = escape(cost.confirmation(estimate))
    return Rendered([section(said), {"type": "actions", "block_id": "consensus-confirm", "elements": buttons}], said)


class ConfirmFlow(HandlerBase):
    """The question's acknowledgement and its confirmation; mixed into SlackHandlers, whose `_ask`
    posts the question and its cards."""

    # SlackHandlers': stores the question (with its estimate, when made), calls the acknowledgement
    # given, posts the question and its cards
    _ask: Callable[[Question, Callable[[], Awaitable[None]] | None, Estimate | None], Awaitable[None]]

    async def ask_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        team, user, channel = command["team_id"], command["user_id"], command["channel_id"]
        question = Question(
            workspace(team), channel, user, str(command.get("text") or "").strip(), delivery=command.get("trigger_id")
        )
        estimating = asyncio.ensure_future(self.estimate(question))
        await asyncio.wait({estimating}, timeout=ACK_BUDGET)
        say = ack
        if not estimating.done():  # a slow store: Slack gets its answer in time, the estimate follows
            await ack()
            say = functools.partial(respond, replace_original=False)
        estimate = await estimating
        if estimate is not None and estimate.needs_confirmation:
            value = pack(Pending(team, channel, user, question.text, str(question.delivery or ""), int(time.time())))
            shown = (
                confirm_message(estimate, value)
                if value
                else blocks.notice(TOO_LONG.format(estimate=estimate.text, command=self.command))
            )
            await say(text=shown.text, blocks=shown.blocks, response_type="ephemeral")
            return
        self.people.remember_name(team, user, command.get("user_name"))
        note = blocks.notice(cost.acknowledgement(estimate)) if estimate is not None else None
        told = False

        async def acknowledge() -> None:  # once the question is stored, or to say what is wrong
            nonlocal told
            if told:
                return
            told = True
            if note is not None:
                await say(text=note.text, blocks=note.blocks, response_type="ephemeral")
            elif say is ack:
                await ack()  # asking says what is wrong, in one place

        async def reply(message: str) -> None:
            await acknowledge()
            await self._responder(respond)(message)

        await self._guard(reply, self._ask(question, acknowledge, estimate))
        await acknowledge()  # a repeated delivery: acted on once already, nothing more to say

    async def confirm_follow_up(
        self, conversation: int, question: Question, reply_ts: str, estimate: Estimate | None
    ) -> bool:
        """A reply in a thread above the threshold: True once the private Ask / Cancel is posted."""
        if estimate is None or not estimate.needs_confirmation:
            return False
        team, thread = question.workspace.external_id, question.thread
        pending = Pending(
            team,
            question.channel,
            question.user,
            question.text,
            f"reply:{reply_ts}",
            int(time.time()),
            conversation,
            thread,
        )
        value = pack(pending)
        shown = (
            confirm_message(estimate, value)
            if value
            else blocks.notice(TOO_LONG.format(estimate=estimate.text, command=self.command))
        )
        await self.client.chat_postEphemeral(
            channel=question.channel, user=question.user, text=shown.text, blocks=shown.blocks, thread_ts=thread
        )
        return True

    async def estimate(self, question: Question, conversation: int | None = None) -> Estimate | None:
        """A few store reads before the acknowledgement; None when the question cannot be asked as it is."""
        try:
            return await self.service.estimate(question, conversation)
        except ConsensusError:
            return None
        except Exception:  # the estimate never stands between a person and an answer
            log.warning("could not estimate a question's cost", exc_info=True)
            return None

    async def on_confirm(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        user = body["user"]["id"]
        channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
        reply = self._ephemeral(channel, user)
        if action.get("action_id") == CANCEL_ACTION:
            await ack()
            await self._safe_reply(self._responder(respond, replace=True), cost.CANCELLED)
            return
        acked = False

        async def acknowledge() -> None:  # Ask is acknowledged once its question is stored
            nonlocal acked
            if not acked:
                acked = True
                await ack()

        try:
            value = str(action.get("value") or "")
            await self._guard(reply, self._confirmed(team_of(body), user, value, acknowledge, respond))
        finally:
            await acknowledge()

    async def _confirmed(
        self, team: str, user: str, value: str, acknowledge: Callable[[], Awaitable[None]], respond: Any
    ) -> None:
        pending = unpack(value)
        if pending.user != user or pending.team != team:
            raise ConsensusError(cost.NOT_YOURS)

        async def stored() -> None:  # the click answered, and the private estimate says it is asked
            await acknowledge()
            await self._safe_reply(self._responder(respond, replace=True), cost.CONFIRMED)

        try:
            if pending.conversation is None:
                await self._ask(pending.question(), stored, None)
            else:
                batch = await self.service.follow_up(pending.conversation, pending.question())
                await stored()
                await self.renderer.open(batch, asker_name=await self.people.name(team, user), follow_up=True)
        except DuplicateDeliveryError:
            raise ConsensusError(cost.ALREADY_ASKED) from None

"""The card verbs, the component id that carries one, and the core call each one makes.

A component id is `consensus:<verb>:<answer id>` (Merge, Export and Stop, on the question's message,
carry the question's batch id instead), with `:yes` appended on the button of a
confirmation step (Discord asks in an ephemeral message; Slack's own dialog needs no second id).
Nothing else rides on a button: the state lives in the database, so a click works after a
restart and on any replica.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.domain import Actor, Answer, Batch

PREFIX = "consensus"
CONFIRMED = "yes"
ID_MAX_DIGITS = 18


class Verb(StrEnum):
    EXPAND = "expand"
    COLLAPSE = "collapse"
    SELECT = "select"
    DELETE = "delete"
    DELETE_OTHERS = "delete_others"
    RETRY = "retry"
    MERGE = "merge"  # on the question: a merged answer written from the kept answers
    EXPORT = "export"  # on the question: the conversation's decision record, as a file in the thread
    STOP = "stop"  # on the question: stop the answers still being written, keep what arrived


# The verbs that change the answer for everyone: only the asker or an admin may use them.
PRIVILEGED = frozenset({Verb.SELECT, Verb.DELETE, Verb.DELETE_OTHERS, Verb.RETRY, Verb.MERGE, Verb.STOP})
# The verbs of the question's message: their id is the question's batch, not an answer.
ON_QUESTION = frozenset({Verb.MERGE, Verb.EXPORT, Verb.STOP})
COMPONENT_ID = re.compile(
    rf"{PREFIX}:(?P<verb>{'|'.join(v.value for v in Verb)}):(?P<id>\d{{1,{ID_MAX_DIGITS}}})(?::(?P<yes>{CONFIRMED}))?"
)


@dataclass(frozen=True, slots=True)
class Confirm:
    """What a destructive verb asks before it runs (Slack: title ≤ 100, text ≤ 300, button ≤ 30)."""

    title: str
    text: str
    button: str


CONFIRMS = {
    Verb.DELETE: Confirm("Delete this answer?", "It is removed here and never sent to the models again.", "Delete"),
    Verb.DELETE_OTHERS: Confirm(
        "Delete the other answers?",
        "Every answer except the selected one is removed and never sent to the models again.",
        "Delete others",
    ),
}


@dataclass(frozen=True, slots=True)
class Click:
    verb: Verb
    target_id: int  # the answer's id; the batch's for Merge, Export and Stop
    confirmed: bool = False

    @property
    def on_question(self) -> bool:
        """The click is on the question's message (its id is the batch's), not on a card."""
        return self.verb in ON_QUESTION

    @property
    def needs_confirmation(self) -> bool:
        return self.verb in CONFIRMS and not self.confirmed


def component_id(verb: Verb, target_id: int, *, confirmed: bool = False) -> str:
    return f"{PREFIX}:{verb.value}:{target_id}" + (f":{CONFIRMED}" if confirmed else "")


def parse(value: str) -> Click | None:
    """The click a component id stands for; None for anything that is not ours, or malformed."""
    match = COMPONENT_ID.fullmatch(value or "")
    if match is None:
        return None
    return Click(Verb(match["verb"]), int(match["id"]), confirmed=match["yes"] is not None)


class CardVerbs(Protocol):
    async def expand(self, answer_id: int, actor: Actor) -> Answer: ...
    async def collapse(self, answer_id: int, actor: Actor) -> Answer: ...
    async def select(self, answer_id: int, actor: Actor) -> Batch: ...
    async def delete(self, answer_id: int, actor: Actor) -> Batch: ...
    async def delete_others(self, answer_id: int, actor: Actor) -> Batch: ...
    async def retry(self, answer_id: int, actor: Actor) -> Answer: ...
    async def merge(self, batch_id: int, actor: Actor) -> Batch: ...
    async def stop(self, batch_id: int, actor: Actor) -> Batch: ...


async def perform(service: CardVerbs, click: Click, actor: Actor) -> Answer | Batch:
    """The one core call a verb makes; the result is what changed on screen. (Export changes
    nothing: each platform sends the record itself, see presenter/export.py.)"""
    calls: dict[Verb, Callable[[int, Actor], Awaitable[Answer | Batch]]] = {
        Verb.EXPAND: service.expand,
        Verb.COLLAPSE: service.collapse,
        Verb.SELECT: service.select,
        Verb.DELETE: service.delete,
        Verb.DELETE_OTHERS: service.delete_others,
        Verb.RETRY: service.retry,
        Verb.MERGE: service.merge,
        Verb.STOP: service.stop,
    }
    return await calls[click.verb](click.target_id, actor)

"""Card buttons as DynamicItems: `consensus:<verb>:<answer id>`, state in the database.

discord.py rebuilds a DynamicItem from the clicked message's components, so the buttons work on
any replica and after a restart. Views are stopped before sending: nothing is kept in the
process's view store, and a click never runs twice.
"""

from __future__ import annotations

from typing import Any, Protocol

import discord

from core.domain import Answer, AnswerStatus

PREFIX = "consensus"
VERBS = ("expand", "collapse", "select", "delete", "others", "retry")
TEMPLATE = rf"{PREFIX}:(?P<verb>{'|'.join(VERBS)}):(?P<id>\d{{1,20}})"


class ClickHandler(Protocol):
    async def on_card_click(self, interaction: discord.Interaction[Any], verb: str, answer_id: int) -> None: ...


def custom_id(verb: str, answer_id: int) -> str:
    return f"{PREFIX}:{verb}:{answer_id}"


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    def __init__(self, verb: str, answer_id: int, *, label: str | None = None,
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary, disabled: bool = False) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or verb.title(), style=style, disabled=disabled, custom_id=custom_id(verb, answer_id))
        super().__init__(button)
        self.verb, self.answer_id = verb, answer_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: Any) -> CardButton:
        return cls(match["verb"], int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ClickHandler = interaction.client
        await handler.on_card_click(interaction, self.verb, self.answer_id)


def _buttons(answer: Answer) -> list[CardButton]:
    aid = answer.id
    if answer.is_deleted or answer.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING):
        return []
    if answer.status == AnswerStatus.FAILED:
        return [CardButton("retry", aid, style=discord.ButtonStyle.primary),
                CardButton("delete", aid, style=discord.ButtonStyle.danger)]
    toggle = (CardButton("collapse", aid) if answer.is_expanded else CardButton("expand", aid))
    select = CardButton("select", aid, label="Selected" if answer.is_selected else "Select",
                        style=discord.ButtonStyle.success, disabled=answer.is_selected)
    retry = [CardButton("retry", aid)] if answer.is_cut else []  # a cut answer may be asked again
    return [toggle, select, *retry, CardButton("delete", aid, style=discord.ButtonStyle.danger),
            CardButton("others", aid, label="Delete others", style=discord.ButtonStyle.danger)]


def card_view(answer: Answer) -> discord.ui.View:
    """The buttons of a card, as a stopped view (call inside the event loop)."""
    view = discord.ui.View(timeout=None)
    for button in _buttons(answer):
        view.add_item(button)
    view.stop()
    return view

"""Card buttons as DynamicItems, drawn from the card view's actions; ids from presenter/actions.py.

discord.py rebuilds a DynamicItem from the clicked message's components, so the buttons work on
any replica and after a restart. Views are stopped before sending: nothing is kept in the
process's view store, and a click never runs twice.
"""

from __future__ import annotations

from typing import Any, Protocol

import discord

from adapters.presenter import actions, card
from adapters.presenter.card import CardView, Style
from core.domain import Batch

_STYLES = {
    Style.PLAIN: discord.ButtonStyle.secondary,
    Style.PRIMARY: discord.ButtonStyle.primary,
    Style.DANGER: discord.ButtonStyle.danger,
}


class ClickHandler(Protocol):
    async def on_card_click(self, interaction: discord.Interaction[Any], click: actions.Click) -> None: ...


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=actions.COMPONENT_ID.pattern):
    def __init__(
        self,
        click: actions.Click,
        *,
        label: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or click.verb.title(),
            style=style,
            custom_id=actions.component_id(click.verb, click.target_id, confirmed=click.confirmed),
        )
        super().__init__(button)
        self.click = click

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any
    ) -> CardButton:
        click = actions.parse(match.group(0))
        assert click is not None  # the template matched
        return cls(click)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: ClickHandler = interaction.client
        await handler.on_card_click(interaction, self.click)


def _stopped(*buttons: CardButton) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    view.stop()
    return view


def card_view(shown: CardView) -> discord.ui.View:
    """The buttons of a card, as a stopped view (call inside the event loop)."""
    return _stopped(
        *(
            CardButton(actions.Click(a.verb, shown.answer.id), label=a.label, style=_STYLES[a.style])
            for a in shown.actions
        )
    )


def question_view(batch: Batch) -> discord.ui.View:
    """The buttons of the question's message (Stop; Merge, Export), as a stopped view; empty clears them."""
    return _stopped(
        *(
            CardButton(actions.Click(a.verb, batch.id), label=a.label, style=_STYLES[a.style])
            for a in card.question_actions(batch)
        )
    )


def offer_view(offered: card.Offer, target_id: int) -> discord.ui.View:
    """The one button of a private offer (Stop the others, after a Select)."""
    action = offered.action
    return _stopped(CardButton(actions.Click(action.verb, target_id), label=action.label, style=_STYLES[action.style]))


def confirm_view(click: actions.Click) -> discord.ui.View:
    """The one button of a confirmation step; dismissing the ephemeral message is the way out."""
    confirm = actions.CONFIRMS[click.verb]
    yes = actions.Click(click.verb, click.target_id, confirmed=True)
    return _stopped(CardButton(yes, label=confirm.button, style=discord.ButtonStyle.danger))

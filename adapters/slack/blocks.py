"""Block Kit for the thread: pure functions from core.domain values to message payloads.

Every text object that carries something we did not write is mrkdwn with `verbatim: true`
and passes through `text.escape` (or `markdown_to_mrkdwn`, which escapes). Limits count what
Slack counts, the escaped text (`&` becomes `&amp;`): text is shortened after it is escaped, and
`mrkdwn` holds every text object to Block Kit's 3,000 characters. The one mention we
produce are "Selected by <@U…>" and "Stopped by <@U…>", built from user ids Slack gave us and checked
for shape.
Buttons carry only `consensus:<verb>:<id>`; the state lives in the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.presenter import card
from adapters.presenter.actions import Confirm, Verb, component_id
from adapters.slack.text import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    ellipsize,
    ellipsize_start,
    escape,
    markdown_to_mrkdwn,
    paginate,
    plain,
    split_text,
)
from core.domain import Batch, MessageRef

Block = dict[str, Any]
PREVIEW_CHARS = 1500
# The question's share of its message, escaped: 8,000 characters stay 8,000 unless they are
# mostly `&`, `<` and `>`, which grow up to five times and would pass Slack's ~12,000 per message.
QUESTION_CHARS = 8000
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,30}$")
_CHANNEL = re.compile(r"^[A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{6,12}\.\d{1,8}$")
_WORKSPACE_URL = re.compile(r"^https://[A-Za-z0-9.-]+/$")
_STYLES = {card.Style.PLAIN: None, card.Style.PRIMARY: "primary", card.Style.DANGER: "danger"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message (blocks + notification text), plus continuation messages when it is long."""

    blocks: list[Block]
    text: str
    more: list[tuple[list[Block], str]] = field(default_factory=list)


def mrkdwn(text: str) -> dict[str, Any]:
    """A text object of escaped `text`, shortened (visibly, never inside an entity) to the limit."""
    return {"type": "mrkdwn", "text": ellipsize(text, SECTION_LIMIT) or " ", "verbatim": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t][:10] or [mrkdwn(" ")]}


def button(label: str, verb: Verb, target_id: int, style: str | None = None, confirm: Confirm | None = None) -> Block:
    ident = component_id(verb, target_id)
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": plain(label, 75)},
        "action_id": ident,
        "value": ident,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = {
            "title": {"type": "plain_text", "text": plain(confirm.title, 100)},
            "text": {"type": "plain_text", "text": plain(confirm.text, 300)},
            "confirm": {"type": "plain_text", "text": plain(confirm.button, 30)},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        }
    return element


def mention(user_id: str | None) -> str:
    """`<@U…>` for an id that looks like a Slack user id; anything else is shown escaped."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def permalink(workspace_url: str | None, ref: MessageRef | None, thread: str | None) -> str | None:
    """The link to a message in a thread, built from ids Slack gave us (the format chat.getPermalink
    returns); None when anything looks wrong."""
    if not (
        ref
        and workspace_url
        and _WORKSPACE_URL.match(workspace_url)
        and _CHANNEL.match(ref.channel)
        and _TS.match(ref.message_id)
    ):
        return None
    link = f"{workspace_url}archives/{ref.channel}/p{ref.message_id.replace('.', '')}"
    return f"{link}?thread_ts={thread}&cid={ref.channel}" if thread and _TS.match(thread) else link


# --- the question (thread parent) ---------------------------------------------------------------


def parent(
    batch: Batch, *, asker_name: str, follow_up: bool = False, links: Mapping[int, str] | None = None
) -> Rendered:
    """The question, its status, and once ranked the ranking with a link to each card."""
    title = "Follow-up" if follow_up else "Question"
    who = f"asked by {escape(asker_name)} · {card.models_asked(batch)} models"
    blocks: list[Block] = []
    if follow_up:
        blocks.append(section(f"*{title}* · {who}"))
    else:
        question = escape(batch.question)
        pieces = split_text(ellipsize(question, QUESTION_CHARS), SECTION_LIMIT - 20)
        blocks.append(section(f"*{title}*\n{pieces[0]}"))
        blocks.extend(section(p) for p in pieces[1:])
        if len(question) > QUESTION_CHARS:
            who += " · the question is shortened here; the models received all of it"
        blocks.append(context(who))
    blocks.append(context(card.status_line(batch, escape)))
    # `&` in a link is escaped too
    ranking = card.ranking_line(batch, links or {}, lambda text, url: f"<{escape(url)}|{text}>", escape)
    if ranking:
        blocks.append(section(ranking))
    consensus = card.consensus_line(batch)
    if consensus:
        blocks.append(context(ellipsize(escape(consensus), 2000)))
    offered = card.question_actions(batch)
    if offered:
        elements = [button(a.label, a.verb, batch.id, _STYLES[a.style], a.confirm) for a in offered]
        blocks.append({"type": "actions", "block_id": f"consensus-question-{batch.id}", "elements": elements})
    fallback = f"{title}: {ellipsize(escape(batch.question), FALLBACK_LIMIT - 20)}"
    return Rendered(blocks, fallback)


# --- one answer card -----------------------------------------------------------------------------


def card_message(shown: card.CardView) -> Rendered:
    """The card of one answer in whatever state it is in."""
    answer = shown.answer
    head = f"*{shown.rank_prefix}{escape(answer.label)}* · `{escape(answer.model)}`"
    if shown.is_top:
        head += " · 🥇 top ranked"
    fallback = f"{escape(answer.label)} ({escape(answer.model)})"
    if shown.state is card.CardState.WAITING:
        # one look until text arrives: a card update costs Slack rate limit, and says nothing new here
        return Rendered([section(head), context("⏳ waiting for the model…")], fallback + ": waiting")
    if shown.state is card.CardState.WRITING:
        tail = ellipsize_start(escape(shown.preview or ""), PREVIEW_CHARS)
        return Rendered([section(head), section(tail), context("✍️ writing…")], fallback + ": writing")
    if shown.state is card.CardState.FAILED:
        error = ellipsize(escape(answer.error or "The model failed to answer."), 1500)
        ending = card.ending_line(answer, escape, mention)
        said = f"{ending.icon} {ending.note}" if ending and answer.is_stopped else f"⚠️ *Failed:* {error}"
        blocks = [section(head), section(said)]
        blocks.append(context(card.tries_text(answer), card.usage_line(answer, escape)))
        blocks.append(_actions(shown))
        return Rendered(blocks, fallback + ": failed")
    return _final(shown, head, fallback)


def _final(shown: card.CardView, head: str, fallback: str) -> Rendered:
    answer = shown.answer
    summary = escape(answer.summary) if answer.summary else ellipsize(escape(answer.content or "(empty answer)"), 600)
    score = card.score_text(answer, escape)
    blocks: list[Block] = [section(f"{head}{' · ' + score if score else ''}")]
    ending = card.ending_line(answer, escape, mention)
    if ending:
        blocks.append(context(f"{ending.icon} {ending.note}"))
    if answer.is_selected:
        blocks.append(context(f"✅ Selected by {mention(answer.selected_by)}"))
    more: list[tuple[list[Block], str]] = []
    if shown.compact:
        blocks.append(context(ellipsize(escape(answer.summary or answer.content or ""), 280)))
    elif answer.is_expanded:
        full = markdown_to_mrkdwn(answer.expanded_text or "(empty answer)")
        pages = paginate(split_text(full), budget=9000)
        blocks.extend(section(p) for p in pages[0])
        for number, page in enumerate(pages[1:], start=2):
            note = context(f"{escape(answer.label)} · part {number} of {len(pages)}")
            more.append(([note, *(section(p) for p in page)], f"{fallback}: part {number}"))
        if more:
            blocks.append(context(f"continued below in {len(more)} more message(s)"))
    else:
        blocks.append(section(summary))
        if shown.why:
            blocks.append(context(f"_Why:_ {escape(shown.why)}"))
    if answer.merged_from and not shown.compact:
        blocks.append(context(card.sources_line(answer, escape)))
    if not shown.compact:
        if shown.rank_line:
            blocks.append(context(escape(shown.rank_line)))
        blocks.append(context(card.usage_line(answer, escape)))
    blocks.append(_actions(shown))
    text = f"{fallback}: {ellipsize(escape(answer.summary or answer.content or ''), 500)}"
    return Rendered(blocks, text, more)


def _actions(shown: card.CardView) -> Block:
    elements = [button(a.label, a.verb, shown.answer.id, _STYLES[a.style], a.confirm) for a in shown.actions]
    return {"type": "actions", "block_id": f"consensus-{shown.answer.id}", "elements": elements}


def offer(shown: card.Offer, target_id: int) -> Rendered:
    """A private offer with its one button (Stop the others, after a Select)."""
    action = shown.action
    element = button(action.label, action.verb, target_id, _STYLES[action.style], action.confirm)
    text = escape(shown.text)
    return Rendered([section(text), {"type": "actions", "elements": [element]}], ellipsize(text, FALLBACK_LIMIT))


def notice(message: str) -> Rendered:
    """A short ephemeral message: core error strings and refusals, escaped. Channel links (`<#C123>`)
    stay links: they notify nobody, and they say where the bot may answer."""
    return Rendered(
        [section(_relink_channels(escape(message)))], _relink_channels(ellipsize(escape(message), FALLBACK_LIMIT))
    )


_ESCAPED_CHANNEL_LINK = re.compile(r"&lt;#([CG][A-Z0-9]{1,30})&gt;")


def _relink_channels(escaped: str) -> str:
    return _ESCAPED_CHANNEL_LINK.sub(r"<#\1>", escaped)

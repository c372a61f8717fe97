"""Block Kit for the thread: pure functions from core.domain values to message payloads.

Every text object that carries something we did not write is mrkdwn with `verbatim: true`
and passes through `text.escape` (or `markdown_to_mrkdwn`, which escapes). The one mention we
produce is "Selected by <@U…>", built from a user id Slack gave us and checked for shape.
Buttons carry only `consensus:<verb>:<id>`; the state lives in the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.text import (
    FALLBACK_LIMIT,
    SECTION_LIMIT,
    ellipsize,
    escape,
    markdown_to_mrkdwn,
    paginate,
    plain,
    split_text,
)
from core.domain import Answer, AnswerStatus, Batch

Block = dict[str, Any]
ACTION_PREFIX = "consensus"
PREVIEW_CHARS = 1500
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,30}$")
_METHOD_NAMES = {"consensus": "agreement", "agreement": "agreement", "judge": "a judge model"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One message (blocks + notification text), plus continuation messages when it is long."""

    blocks: list[Block]
    text: str
    more: list[tuple[list[Block], str]] = field(default_factory=list)


def action_id(verb: str, target_id: int) -> str:
    return f"{ACTION_PREFIX}:{verb}:{target_id}"


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text or " ", "verbatim": True}


def section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(text)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t][:10] or [mrkdwn(" ")]}


def button(label: str, verb: str, target_id: int, style: str | None = None,
           confirm: tuple[str, str] | None = None) -> Block:
    ident = action_id(verb, target_id)
    element: Block = {"type": "button", "text": {"type": "plain_text", "text": plain(label, 75)},
                      "action_id": ident, "value": ident}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = {
            "title": {"type": "plain_text", "text": plain(confirm[0], 100)},
            "text": {"type": "plain_text", "text": plain(confirm[1], 300)},
            "confirm": {"type": "plain_text", "text": "Yes"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return element


def mention(user_id: str | None) -> str:
    """`<@U…>` for an id that looks like a Slack user id; anything else is shown escaped."""
    if user_id and _USER_ID.match(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def method_name(method: str | None) -> str:
    return _METHOD_NAMES.get(method or "", escape(method or "score"))


# --- the question (thread parent) ---------------------------------------------------------------

def status_line(batch: Batch, *, ranked: bool) -> str:
    """"3/3 answered · ranked by agreement", "2/3 answered · Claude failed", "1/3 answered…"."""
    live = batch.live_answers
    done = [a for a in live if a.status is AnswerStatus.COMPLETED]
    failed = [a for a in live if a.status is AnswerStatus.FAILED]
    waiting = [a for a in live if a.status in (AnswerStatus.PENDING, AnswerStatus.RUNNING)]
    parts = [f"{len(done)}/{len(live)} answered"]
    if failed:
        parts.append(", ".join(escape(a.label) for a in failed) + " failed")
    if waiting:
        parts.append("waiting for " + ", ".join(escape(a.label) for a in waiting))
    elif ranked and done:
        method = next((a.score_method for a in done if a.score_method), None)
        parts.append(f"ranked by {method_name(method)}")
    selected = next((a for a in live if a.is_selected), None)
    if selected:
        parts.append(f"selected: {escape(selected.label)}")
    deleted = len(batch.answers) - len(live)
    if deleted:
        parts.append(f"{deleted} deleted")
    return " · ".join(parts)


def parent(batch: Batch, *, asker_name: str, ranked: bool = False, follow_up: bool = False) -> Rendered:
    title = "Follow-up" if follow_up else "Question"
    who = f"asked by {escape(asker_name)} · {len(batch.answers)} models"
    blocks: list[Block] = []
    if follow_up:
        blocks.append(section(f"*{title}* · {who}"))
    else:
        pieces = split_text(escape(batch.question), SECTION_LIMIT - 20)
        blocks.append(section(f"*{title}*\n{pieces[0]}"))
        blocks.extend(section(p) for p in pieces[1:])
        blocks.append(context(who))
    blocks.append(context(status_line(batch, ranked=ranked)))
    if ranked and batch.consensus:
        flag = "⚠️ The models disagree. " if batch.disagree else ""
        blocks.append(context(flag + escape(ellipsize(batch.consensus, 2000))))
    fallback = f"{title}: {escape(ellipsize(batch.question, FALLBACK_LIMIT - 20))}"
    return Rendered(blocks, fallback)


# --- one answer card -----------------------------------------------------------------------------

def card(answer: Answer, *, has_selection: bool = False, others_live: int = 0,
         preview: str | None = None) -> Rendered:
    """The card of one answer in whatever state it is in."""
    head = f"*{escape(answer.label)}* · `{escape(answer.model)}`"
    if answer.rank == 1 and answer.status is AnswerStatus.COMPLETED:
        head += " · 🥇 top ranked"
    fallback = f"{escape(answer.label)} ({escape(answer.model)})"
    if answer.status is AnswerStatus.PENDING or (answer.status is AnswerStatus.RUNNING and not preview):
        # one look until text arrives: a card update costs Slack rate limit, and says nothing new here
        return Rendered([section(head), context("⏳ waiting for the model…")], fallback + ": waiting")
    if answer.status is AnswerStatus.RUNNING:
        blocks = [section(head)]
        if preview:
            tail = preview if len(preview) <= PREVIEW_CHARS else "…" + preview[-PREVIEW_CHARS:]
            blocks.append(section(escape(tail)))
        blocks.append(context("✍️ writing…"))
        return Rendered(blocks, fallback + ": writing")
    if answer.status is AnswerStatus.FAILED:
        error = escape(ellipsize(answer.error or "The model failed to answer.", 1500))
        tries = f"after {answer.attempts} attempts" if answer.attempts > 1 else ""
        blocks = [section(head), section(f"⚠️ *Failed:* {error}")]
        blocks.append(context(*(t for t in (tries, _usage(answer)) if t)))
        blocks.append(_actions(answer, [button("Retry", "retry", answer.id, "primary"), _delete(answer)]))
        return Rendered(blocks, fallback + ": failed")
    return _final(answer, head, fallback, has_selection=has_selection, others_live=others_live)


def _final(answer: Answer, head: str, fallback: str, *, has_selection: bool, others_live: int) -> Rendered:
    summary = escape(answer.summary or ellipsize(answer.content or "(empty answer)", 600))
    score = _score(answer)
    selected = answer.is_selected
    compact = has_selection and not selected and not answer.is_expanded
    blocks: list[Block] = [section(f"{head}{' · ' + score if score else ''}")]
    if answer.ending_note:
        blocks.append(context(f"✂️ {escape(answer.ending_note)}"))
    if selected:
        blocks.append(context(f"✅ Selected by {mention(answer.selected_by)}"))
    more: list[tuple[list[Block], str]] = []
    if compact:
        blocks.append(context(escape(ellipsize(answer.summary or answer.content or "", 280))))
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
        if answer.reasoning:
            blocks.append(context(f"_Why:_ {escape(answer.reasoning)}"))
    if not compact:
        blocks.append(context(_usage(answer)))
    buttons = [button("Collapse", "collapse", answer.id) if answer.is_expanded
               else button("Expand", "expand", answer.id)]
    if answer.is_cut:
        buttons.append(button("Retry", "retry", answer.id))
    if not selected:
        buttons.append(button("Select", "select", answer.id, "primary"))
    elif others_live:
        buttons.append(button("Delete others", "delete_others", answer.id, "danger",
                              ("Delete the other answers?", "Every answer except this one is removed.")))
    buttons.append(_delete(answer))
    blocks.append(_actions(answer, buttons))
    text = f"{fallback}: {escape(ellipsize(answer.summary or answer.content or '', 500))}"
    return Rendered(blocks, text, more)


def _delete(answer: Answer) -> Block:
    return button("Delete", "delete", answer.id, "danger",
                  ("Delete this answer?", "It is removed here and never sent to the models again."))


def _actions(answer: Answer, elements: list[Block]) -> Block:
    return {"type": "actions", "block_id": f"consensus-{answer.id}", "elements": elements}


def _score(answer: Answer) -> str:
    if answer.score is None:
        return ""
    return f"*{answer.score:.1f}*/10 by {method_name(answer.score_method)}"


def _usage(answer: Answer) -> str:
    parts: list[str] = []
    if answer.latency_ms is not None:
        parts.append(f"{answer.latency_ms / 1000:.1f} s")
    if answer.tokens_in is not None or answer.tokens_out is not None:
        parts.append(f"{answer.tokens_in or 0} in / {answer.tokens_out or 0} out tokens")
    if answer.cost_usd is not None:
        parts.append(f"${answer.cost_usd:.4f}")
    elif parts:
        parts.append("cost unknown")
    if answer.key_label:
        parts.append(f"key: {escape(answer.key_label)}")
    return " · ".join(parts)


def removed(answer: Answer) -> Rendered:
    """What a card shows if Slack refuses to delete it: nothing of the answer remains."""
    return Rendered([context(f"🗑️ The answer from {escape(answer.label)} was deleted.")], "Answer deleted")


def notice(message: str) -> Rendered:
    """A short ephemeral message: core error strings and refusals, escaped."""
    return Rendered([section(escape(message))], escape(ellipsize(message, FALLBACK_LIMIT)))


def names_line(names: Mapping[str, str], user_id: str) -> str:
    return escape(names.get(user_id, user_id))

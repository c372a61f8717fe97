"""Pure rendering: core values -> Discord message parts (content, embeds, attachments).

Limits (platforms.md §2.2): content 2,000; embed description 4,096; field value 1,024; title 256;
6,000 characters across the embeds of one message. Text that does not fit is attached as a file,
never cut silently. Untrusted text (questions, answers, errors) has its mentions defused here as
well, but the real protection is `allowed_mentions` (AllowedMentions.none() on the client).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import discord

from adapters.presenter import card
from adapters.presenter.text import split_exact as split_text
from core.domain import Batch, ConversationSummary, MessageRef
from core.text import remove_control_characters

CONTENT_MAX = 2000
DESCRIPTION_MAX = 4096
FIELD_MAX = 1024
TITLE_MAX = 256
MESSAGE_EMBEDS_MAX = 6000
STREAM_TAIL = 1500
ZWSP = "\u200b"

GREY, BLURPLE, GREEN, RED, GOLD = 0x99AAB5, 0x5865F2, 0x57F287, 0xED4245, 0xFEE75C
_BROADCAST = re.compile(r"@(everyone|here)", re.IGNORECASE)
_TAG = re.compile(r"<(@[!&]?|#)(\d+)>")
# [shown text](https://somewhere): the text may pretend to be another address; show the real one.
_MASKED_LINK = re.compile(
    r"\[([^\[\]\n]*)\]\(\s*<?((?:https?|discord)://[^\s)>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)", re.IGNORECASE
)
# What is left of one cut short ("[a](https://x.exa", at the end of a clipped summary or a preview)
_LINK_START = re.compile(r"\]\(\s*<?(?=(?:https?|discord)://)", re.IGNORECASE)


@dataclass
class Rendered:
    """One message's worth of parts. `files` are (filename, bytes) to attach."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)
    files: list[tuple[str, bytes]] = field(default_factory=list)


def neutralise(text: str) -> str:
    """Untrusted text made harmless: control characters removed, masked links unmasked, and
    @everyone/@here, <@id>, <@&role>, <#channel> defused."""
    text = remove_control_characters(text)
    while True:  # unmasking can reveal an outer masked link: repeat until none is left
        unmasked = _MASKED_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
        if unmasked == text:
            break
        text = unmasked
    text = _LINK_START.sub("] (", text)  # a link cut short stays inert, whatever text comes after it
    text = _BROADCAST.sub(lambda m: f"@{ZWSP}{m.group(1)}", text)
    return _TAG.sub(lambda m: f"<{m.group(1)}{ZWSP}{m.group(2)}>", text)


def _clip(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(note)] + note


def fit_long_text(
    text: str, *, title: str, colour: int, filename: str, room: int = MESSAGE_EMBEDS_MAX, lead: str = ""
) -> Rendered:
    """The whole `text` over several embeds of one message, or (too long) a preview plus a file."""
    body = lead + text
    parts = split_text(body, DESCRIPTION_MAX)
    if len(parts) <= 10 and len(body) + len(title) * len(parts) + 40 <= room:
        embeds = [
            discord.Embed(title=_clip(title, TITLE_MAX) if i == 0 else None, description=part, colour=colour)
            for i, part in enumerate(parts)
        ]
        if len(embeds) > 1:
            for i, embed in enumerate(embeds, 1):
                embed.set_footer(text=f"part {i} of {len(embeds)}")
        return Rendered(embeds=embeds)
    note = f"\n\n… {len(text):,} characters in all: the whole text is attached as `{filename}`."
    preview = split_text(body, min(DESCRIPTION_MAX, room - len(title)) - len(note) - 200)[0]
    embed = discord.Embed(title=_clip(title, TITLE_MAX), description=preview + note, colour=colour)
    return Rendered(embeds=[embed], files=[(filename, text.encode())])


# ---- the question message ----------------------------------------------------------------------
def message_url(guild: str | None, ref: MessageRef) -> str:
    """Discord's jump URL of a message ("@me" for a direct message)."""
    return f"https://discord.com/channels/{guild or '@me'}/{ref.channel}/{ref.message_id}"


def status_text(batch: Batch, links: Mapping[int, str] | None = None) -> str:
    """The status line, then (once ranked) the ranking with links to the cards, then the consensus."""
    lines = [card.status_line(batch, neutralise)]
    # a label never closes the link text it sits in
    ranking = card.ranking_line(
        batch,
        links or {},
        lambda text, url: f"[{text}]({url})",
        lambda label: neutralise(label).replace("[", "(").replace("]", ")"),
    )
    if ranking:
        lines.append(ranking)
    consensus = card.consensus_line(batch)
    if consensus:
        lines.append(neutralise(_clip(consensus, 900)))
    return "\n".join(lines)


def question_message(batch: Batch, links: Mapping[int, str] | None = None) -> Rendered:
    header = f"**<@{batch.asker}> asked** · {status_text(batch, links)}"
    out = fit_long_text(
        neutralise(batch.question), title="Question", colour=BLURPLE, filename="question.md", room=MESSAGE_EMBEDS_MAX
    )
    out.content = _clip(header, CONTENT_MAX)
    return out


def thread_name(question: str) -> str:
    first = " ".join(neutralise(question).split())  # names never ping; defused all the same
    return _clip(first, 100) or "Consensus"


# ---- cards -------------------------------------------------------------------------------------
def card_title(shown: card.CardView) -> str:
    mark = "✅ " if shown.answer.is_selected else ""
    return _clip(f"{mark}{shown.rank_prefix}{shown.answer.label} · {shown.answer.model}", TITLE_MAX)


def _colour(shown: card.CardView) -> int:
    if shown.answer.is_selected:
        return GREEN
    return {
        card.CardState.WAITING: GREY,
        card.CardState.WRITING: BLURPLE,
        card.CardState.FAILED: RED,
        card.CardState.DELETED: GREY,
    }.get(shown.state, GOLD if shown.is_top else BLURPLE)


def mention(user_id: str) -> str:
    """A person as Discord draws them (messages go out with AllowedMentions.none(): nobody is pinged)."""
    return f"<@{user_id}>" if user_id.isdigit() else neutralise(user_id)


def _facts(embed: discord.Embed, shown: card.CardView, *, with_why: bool = False) -> None:
    """How it ended, why, what decided the rank, the score, usage, who selected it, and (in the
    footer) which key paid."""
    answer = shown.answer
    ending = card.ending_line(answer, neutralise, mention)
    if ending and not (answer.is_stopped and shown.state is card.CardState.FAILED):  # said in its description
        embed.add_field(name=f"{ending.icon} {ending.title}", value=ending.note, inline=False)
    if with_why and shown.why:
        embed.add_field(name="Why", value=neutralise(_clip(shown.why, FIELD_MAX)), inline=False)
    if shown.rank_line:
        embed.add_field(name="Rank", value=neutralise(_clip(shown.rank_line, FIELD_MAX)), inline=False)
    score = card.score_text(answer, neutralise)
    if score:
        embed.add_field(name="Score", value=score, inline=True)
    usage = " · ".join(card.usage_parts(answer))
    if usage:
        embed.add_field(name="Usage", value=usage, inline=True)
    sources = card.sources_line(answer, neutralise)
    if sources:
        embed.add_field(name="Sources", value=_clip(sources, FIELD_MAX), inline=False)
    if answer.is_selected and answer.selected_by:
        embed.add_field(name="Selected", value=f"Selected by <@{answer.selected_by}>", inline=False)
    paid = card.paid_by(answer, neutralise)
    if paid:
        before = embed.footer.text if embed.footer and embed.footer.text else ""
        embed.set_footer(text=f"{before} · {paid}" if before else paid)


def card_message(shown: card.CardView) -> Rendered:
    """The card of one answer in its current state."""
    answer = shown.answer
    title, colour = card_title(shown), _colour(shown)
    if shown.state is card.CardState.DELETED:
        text = "🗑️ Deleted: this answer is never sent back to the models."
        return Rendered(embeds=[discord.Embed(title=title, description=text, colour=GREY)])
    if shown.state is card.CardState.FAILED:
        reason = neutralise(_clip(answer.error or "The model failed to answer.", 1500))
        tries = card.tries_text(answer)
        said = f"❌ **Failed:** {reason}" + (f" ({tries})" if tries else "")
        ending = card.ending_line(answer, neutralise, mention)
        if ending and answer.is_stopped:
            said = f"{ending.icon} {ending.note}"
        embed = discord.Embed(title=title, description=said, colour=colour)
        _facts(embed, shown)
        return Rendered(embeds=[embed])
    if shown.state is card.CardState.WAITING:
        return Rendered(embeds=[discord.Embed(title=title, description="⏳ Thinking…", colour=colour)])
    if shown.state is card.CardState.WRITING:
        progress = shown.preview or ""
        tail = neutralise(progress[-STREAM_TAIL:])
        more = "…" if len(progress) > STREAM_TAIL else ""
        lead = f"✍️ Writing… {len(progress):,} characters so far\n\n{more}"
        return Rendered(embeds=[discord.Embed(title=title, description=lead + tail, colour=colour)])
    if answer.is_expanded:
        out = fit_long_text(
            neutralise(answer.expanded_text),
            title=title,
            colour=colour,
            filename=f"answer-{answer.id}.md",
            room=MESSAGE_EMBEDS_MAX - 600,
        )
        _facts(out.embeds[-1], shown)
        return out
    summary = answer.summary or _clip(answer.content or "", 600, "… (Expand for the whole answer)")
    if shown.compact:
        summary = _clip(summary, 280)
    embed = discord.Embed(title=title, description=neutralise(summary) or "(empty answer)", colour=colour)
    _facts(embed, shown, with_why=True)
    return Rendered(embeds=[embed])


# ---- history -----------------------------------------------------------------------------------
def jump_url(guild_id: str | None, channel: str, thread: str | None) -> str:
    return f"https://discord.com/channels/{guild_id or '@me'}/{thread or channel}"


def history(items: list[ConversationSummary], guild_id: str | None, query: str | None) -> Rendered:
    if not items:
        text = f"No conversation matches “{neutralise(query)}”." if query else "No conversations yet."
        return Rendered(content=text)
    lines: list[str] = []
    for conv in items:
        stamp = int(conv.updated_at.timestamp())
        kept = f" · kept {conv.selected}" if conv.selected else ""
        line = (
            f"**[{neutralise(_clip(conv.title, 80))}]({jump_url(guild_id, conv.channel, conv.thread)})**"
            f" — <@{conv.created_by}>, {conv.questions} question(s), <t:{stamp}:R>{kept}"
        )
        if conv.snippet:
            line += f"\n> {neutralise(_clip(' '.join(conv.snippet.split()), 150))}"
        lines.append(line)
    title = f"Conversations matching “{_clip(query, 60)}”" if query else "Recent conversations"
    body = "\n".join(lines)
    return Rendered(
        embeds=[discord.Embed(title=neutralise(title), colour=BLURPLE, description=_clip(body, DESCRIPTION_MAX, "\n…"))]
    )

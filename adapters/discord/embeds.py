"""Pure rendering: core values -> Discord message parts (content, embeds, attachments).

Limits (platforms.md §2.2): content 2,000; embed description 4,096; field value 1,024; title 256;
6,000 characters across the embeds of one message. Text that does not fit is attached as a file,
never cut silently. Untrusted text (questions, answers, errors) has its mentions defused here as
well, but the real protection is `allowed_mentions` (AllowedMentions.none() on the client).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import discord

from core.domain import Answer, AnswerStatus, Batch, BatchStatus, ConversationSummary
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
_MASKED_LINK = re.compile(r"\[([^\[\]\n]*)\]\(\s*<?((?:https?|discord)://[^\s)>]*)>?(?:\s+\"[^\"\n]*\")?\s*\)",
                          re.IGNORECASE)
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


def split_text(text: str, size: int) -> list[str]:
    """Split into chunks of at most `size`, preferring line then word boundaries; nothing dropped."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", size // 2, size)
        if cut == -1:
            cut = text.rfind(" ", size // 2, size)
        cut = size if cut == -1 else cut + 1
        chunks.append(text[:cut])
        text = text[cut:]
    if text or not chunks:
        chunks.append(text)
    return chunks


def _clip(text: str, limit: int, note: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(note)] + note


def fit_long_text(text: str, *, title: str, colour: int, filename: str, room: int = MESSAGE_EMBEDS_MAX,
                  lead: str = "") -> Rendered:
    """The whole `text` over several embeds of one message, or (too long) a preview plus a file."""
    body = lead + text
    parts = split_text(body, DESCRIPTION_MAX)
    if len(parts) <= 10 and len(body) + len(title) * len(parts) + 40 <= room:
        embeds = [discord.Embed(title=_clip(title, TITLE_MAX) if i == 0 else None, description=part,
                                colour=colour) for i, part in enumerate(parts)]
        if len(embeds) > 1:
            for i, embed in enumerate(embeds, 1):
                embed.set_footer(text=f"part {i} of {len(embeds)}")
        return Rendered(embeds=embeds)
    note = f"\n\n… {len(text):,} characters in all: the whole text is attached as `{filename}`."
    preview = split_text(body, min(DESCRIPTION_MAX, room - len(title)) - len(note) - 200)[0]
    embed = discord.Embed(title=_clip(title, TITLE_MAX), description=preview + note, colour=colour)
    return Rendered(embeds=[embed], files=[(filename, text.encode())])


# ---- the question message ----------------------------------------------------------------------
def status_line(batch: Batch) -> str:
    live = batch.live_answers
    done = [a for a in live if a.status == AnswerStatus.COMPLETED]
    failed = [a for a in live if a.status == AnswerStatus.FAILED]
    if batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING):
        return f"⏳ Asking {len(batch.answers)} models… {len(done) + len(failed)} of {len(live)} done."
    line = f"✅ {len(done)} of {len(live)} answered" if done else "❌ No model could answer"
    if failed:
        line += f", {len(failed)} failed"
    best = min((a for a in done if a.rank is not None), key=lambda a: a.rank or 0, default=None)
    if best is not None and best.score is not None:
        how = f" ({best.score_method})" if best.score_method else ""
        line += f" · top: {best.label} {best.score:.1f}/10{how}"
    selected = next((a for a in live if a.is_selected), None)
    if selected is not None:
        line += f" · kept: {selected.label}"
    if batch.disagree:
        line += "\n⚠️ The models disagree."
    if batch.consensus:
        line += "\n" + neutralise(_clip(batch.consensus, 900))
    return line


def question_message(batch: Batch) -> Rendered:
    header = f"**<@{batch.asker}> asked** · {status_line(batch)}"
    out = fit_long_text(neutralise(batch.question), title="Question", colour=BLURPLE,
                        filename="question.md", room=MESSAGE_EMBEDS_MAX)
    out.content = _clip(header, CONTENT_MAX)
    return out


def thread_name(question: str) -> str:
    first = " ".join(neutralise(question).split())  # names never ping; defused all the same
    return _clip(first, 100) or "Consensus"


# ---- cards -------------------------------------------------------------------------------------
def card_title(answer: Answer) -> str:
    rank = f"#{answer.rank} · " if answer.rank is not None and not answer.is_deleted else ""
    mark = "✅ " if answer.is_selected else ""
    return _clip(f"{mark}{rank}{answer.label} · {answer.model}", TITLE_MAX)


def _colour(answer: Answer) -> int:
    if answer.is_selected:
        return GREEN
    return {AnswerStatus.PENDING: GREY, AnswerStatus.RUNNING: BLURPLE,
            AnswerStatus.FAILED: RED}.get(answer.status, GOLD if answer.rank == 1 else BLURPLE)


def _stats(embed: discord.Embed, answer: Answer) -> None:
    if answer.score is not None:
        how = f" ({answer.score_method})" if answer.score_method else ""
        embed.add_field(name="Score", value=f"{answer.score:.1f}/10{how}", inline=True)
    if answer.latency_ms is not None:
        embed.add_field(name="Latency", value=f"{answer.latency_ms / 1000:.1f} s", inline=True)
    if answer.tokens_in is not None or answer.tokens_out is not None:
        embed.add_field(name="Tokens", value=f"{answer.tokens_in or 0} in · {answer.tokens_out or 0} out",
                        inline=True)
    if answer.status == AnswerStatus.COMPLETED:
        cost = "unknown" if answer.cost_usd is None else f"${answer.cost_usd:.4f}"
        embed.add_field(name="Cost", value=cost, inline=True)
    if answer.is_selected and answer.selected_by:
        embed.add_field(name="Selected", value=f"Selected by <@{answer.selected_by}>", inline=False)


def _ending(embed: discord.Embed, answer: Answer) -> None:
    """How an answer that is not whole ended ("cut off: …"), first of its fields."""
    if answer.ending_note:
        embed.add_field(name="✂️ Ended early", value=answer.ending_note, inline=False)


def _paid(embed: discord.Embed, answer: Answer) -> None:
    """Which key paid for the answer ("key: team ••3f9a"), in the footer after any part count."""
    if not answer.key_label:
        return
    paid = f"key: {neutralise(answer.key_label)}"
    before = embed.footer.text if embed.footer and embed.footer.text else ""
    embed.set_footer(text=f"{before} · {paid}" if before else paid)


def card(answer: Answer, progress: str | None = None) -> Rendered:
    """The card of one answer in its current state."""
    title, colour = card_title(answer), _colour(answer)
    if answer.is_deleted:
        text = "🗑️ Deleted: this answer is never sent back to the models."
        return Rendered(embeds=[discord.Embed(title=title, description=text, colour=GREY)])
    if answer.status == AnswerStatus.FAILED:
        reason = neutralise(_clip(answer.error or "The model failed to answer.", 1500))
        embed = discord.Embed(title=title, description=f"❌ **Failed:** {reason}", colour=colour)
        _stats(embed, answer)
        _paid(embed, answer)
        return Rendered(embeds=[embed])
    if answer.status != AnswerStatus.COMPLETED:
        if not progress:
            return Rendered(embeds=[discord.Embed(title=title, description="⏳ Thinking…", colour=colour)])
        tail = neutralise(progress[-STREAM_TAIL:])
        more = "…" if len(progress) > STREAM_TAIL else ""
        lead = f"✍️ Writing… {len(progress):,} characters so far\n\n{more}"
        return Rendered(embeds=[discord.Embed(title=title, description=lead + tail, colour=colour)])
    if answer.is_expanded:
        out = fit_long_text(neutralise(answer.expanded_text), title=title, colour=colour,
                            filename=f"answer-{answer.id}.md", room=MESSAGE_EMBEDS_MAX - 600)
        _ending(out.embeds[-1], answer)
        _stats(out.embeds[-1], answer)
        _paid(out.embeds[-1], answer)
        return out
    summary = answer.summary or _clip(answer.content or "", 600, "… (Expand for the whole answer)")
    embed = discord.Embed(title=title, description=neutralise(summary) or "(empty answer)", colour=colour)
    _ending(embed, answer)
    if answer.reasoning:
        embed.add_field(name="Why", value=neutralise(_clip(answer.reasoning, FIELD_MAX)), inline=False)
    _stats(embed, answer)
    _paid(embed, answer)
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
        line = (f"**[{neutralise(_clip(conv.title, 80))}]({jump_url(guild_id, conv.channel, conv.thread)})**"
                f" — <@{conv.created_by}>, {conv.questions} question(s), <t:{stamp}:R>{kept}")
        if conv.snippet:
            line += f"\n> {neutralise(_clip(' '.join(conv.snippet.split()), 150))}"
        lines.append(line)
    title = f"Conversations matching “{_clip(query, 60)}”" if query else "Recent conversations"
    body = "\n".join(lines)
    return Rendered(embeds=[discord.Embed(title=neutralise(title), colour=BLURPLE,
                                          description=_clip(body, DESCRIPTION_MAX, "\n…"))])

"""Usage text, history lists, the App Home tab and the search modal (pure Block Kit builders)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adapters.presenter import leaderboard as standing
from adapters.presenter.channels import channel_link
from adapters.presenter.cost import spending_line
from adapters.slack.blocks import Block, Rendered, context, mrkdwn, permalink, section
from adapters.slack.text import ellipsize, escape
from core.domain import MAX_QUESTION_CHARS, ConversationSummary, MessageRef
from core.leaderboard import Leaderboard
from core.settings import Spending

SEARCH_CALLBACK = "consensus:search"
SEARCH_BLOCK = "consensus-search"
SEARCH_INPUT = "query"
OPEN_SEARCH = "consensus:search:0"
MAX_ITEMS = 20  # 3 blocks each keeps a modal or the Home tab far below 100 blocks
MAX_LEADERS = 10  # one block each, under the history's 60


def usage(command: str = "/consensus") -> Rendered:
    cmd = escape(command)
    lines = [
        f"*{cmd} <question>* asks several AI models at once. Each answers in its own card in a thread,",
        "with a short summary, why it answered that way, and a 0–10 score.",
        "",
        "• *Expand* shows the full answer (anyone may). *Select* keeps the best answer as the context",
        "  for the next question; *Delete* removes an answer; *Retry* runs a failed model again",
        "  (the asker or a workspace admin).",
        "• Reply in the thread (or mention the bot there) to ask a follow-up question.",
        f"• *{cmd} history [words]* lists recent conversations; the app's Home tab shows them too.",
        f"• *{cmd} keys* sets an API key (yours, or an admin's for the workspace); *{cmd} keys list*",
        f"  shows them and deletes them. *{cmd} settings* (admins): the models and the limits.",
        f"• *{cmd} leaderboard [days]* shows which models' answers this channel selects; the Home tab",
        "  shows the whole workspace's.",
        f"Questions may be up to {MAX_QUESTION_CHARS:,} characters.",
    ]
    return Rendered([section("\n".join(lines))], f"How to use {cmd}")


def thread_link(workspace_url: str | None, channel: str, thread: str | None) -> str:
    """A link to the thread built only from ids Slack gave us; empty when any part looks wrong."""
    url = permalink(workspace_url, MessageRef(channel, thread or ""), None)
    return f"<{url}|open thread>" if url else ""


def when(moment: datetime) -> str:
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def history_blocks(
    items: Sequence[ConversationSummary],
    names: Mapping[str, str],
    workspace_url: str | None,
    *,
    query: str | None = None,
) -> list[Block]:
    if not items:
        found = f" matching “{escape(query)}”" if query else ""
        return [section(f"No conversations{found} yet.")]
    blocks: list[Block] = []
    for item in items[:MAX_ITEMS]:
        title = ellipsize(escape(" ".join(item.title.split())), 200)
        blocks.append(section(f"*{title}*"))
        facts = [
            f"by {escape(names.get(item.created_by, item.created_by))}",
            when(item.updated_at),
            f"{item.models} models",
            f"{item.questions} question{'s' if item.questions != 1 else ''}",
        ]
        if item.selected:
            facts.append(f"selected: {escape(item.selected)}")
        link = thread_link(workspace_url, item.channel, item.thread)
        if link:
            facts.append(link)
        blocks.append(context(" · ".join(facts)))
        if item.snippet:
            blocks.append(context("> " + ellipsize(escape(item.snippet), 300)))
    if len(items) > MAX_ITEMS:
        blocks.append(context(f"…and {len(items) - MAX_ITEMS} more; search to narrow them down."))
    return blocks


def history_message(
    items: Sequence[ConversationSummary], names: Mapping[str, str], workspace_url: str | None, query: str | None
) -> Rendered:
    head = f"*Conversations matching “{escape(query)}”*" if query else "*Recent conversations*"
    blocks = [section(head), *history_blocks(items, names, workspace_url, query=query)]
    return Rendered(blocks, "Consensus history")


def _code(text: str) -> str:
    return f"`{text}`"


def leaderboard_blocks(board: Leaderboard) -> list[Block]:
    """The leaderboard (the Home tab's section, or a channel's): a heading, then one bar per model."""
    where = f"in {channel_link(board.channel)}" if board.channel else "in this workspace"
    blocks: list[Block] = [section(f"*Leaderboard*  {standing.heading(board, where)}")]
    if not board.standings:
        return [*blocks, context(standing.empty_text(board))]
    blocks += [section(line) for line in standing.text_lines(board, escape, _code)[:MAX_LEADERS]]
    if len(board.standings) > MAX_LEADERS:
        blocks.append(context(f"…and {len(board.standings) - MAX_LEADERS} more models."))
    blocks.append(context("The bar is the share of its answers the team selected; the range is its 95% interval."))
    return blocks


def home_view(
    items: Sequence[ConversationSummary],
    names: Mapping[str, str],
    workspace_url: str | None,
    board: Leaderboard | None = None,
    spending: Spending | None = None,
) -> dict[str, Any]:
    leaders = [*leaderboard_blocks(board), {"type": "divider"}] if board is not None else []
    spent = [context(escape(spending_line(spending)))] if spending is not None else []
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Consensus"}},
        *spent,
        *leaders,
        {
            "type": "section",
            "text": mrkdwn("Recent questions your team asked. Open a thread to continue it."),
            "accessory": {
                "type": "button",
                "text": {"type": "plain_text", "text": "Search"},
                "action_id": OPEN_SEARCH,
                "value": OPEN_SEARCH,
            },
        },
        {"type": "divider"},
        *history_blocks(items, names, workspace_url),
    ]
    return {"type": "home", "blocks": blocks}


def search_modal(query: str = "") -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": SEARCH_INPUT,
        "max_length": 200,
        "placeholder": {"type": "plain_text", "text": "words from a question or answer"},
    }
    if query:
        element["initial_value"] = query[:200]
    return {
        "type": "modal",
        "callback_id": SEARCH_CALLBACK,
        "title": {"type": "plain_text", "text": "Search conversations"},
        "submit": {"type": "plain_text", "text": "Search"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [
            {
                "type": "input",
                "block_id": SEARCH_BLOCK,
                "element": element,
                "label": {"type": "plain_text", "text": "Search for"},
            }
        ],
    }


def results_modal(
    items: Sequence[ConversationSummary], names: Mapping[str, str], workspace_url: str | None, query: str
) -> dict[str, Any]:
    view = search_modal(query)
    view["blocks"] = [*view["blocks"], {"type": "divider"}, *history_blocks(items, names, workspace_url, query=query)]
    return view


def search_query(view: Mapping[str, Any]) -> str:
    values = view.get("state", {}).get("values", {})
    return str(values.get(SEARCH_BLOCK, {}).get(SEARCH_INPUT, {}).get("value") or "").strip()

"""Slack listeners. Each one translates a Slack request, calls the core, and renders the result.

Core errors become a reply to the person in exactly one place: `HandlerBase._guard` (base.py).
The keys and settings listeners live in keys.py and settings.py, mixed in here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from adapters.presenter import actions, card, export
from adapters.slack import blocks, home
from adapters.slack.base import HandlerBase, Reply, team_of, workspace
from adapters.slack.confirm import ASK_ACTION, CANCEL_ACTION, ConfirmFlow
from adapters.slack.keys import KEY_DELETE, KEYS_CALLBACK, KeysFlow
from adapters.slack.settings import SETTINGS_CALLBACK, SettingsFlow
from adapters.slack.text import escape
from core.cost import Estimate
from core.domain import Actor, Batch, Question
from core.errors import ConsensusError
from core.leaderboard import DEFAULT_DAYS

log = logging.getLogger(__name__)
ACTION = re.compile(f"^{actions.COMPONENT_ID.pattern}$")
HELP_WORDS = {"", "help", "?", "usage"}
KEYS_WORDS = {"", "list", "delete", "set", "add"}  # `keys` followed by one of these is not a question
RESTARTING = "Consensus is restarting; ask again in a minute."
__all__ = ["RESTARTING", "Reply", "SlackHandlers", "team_of", "workspace"]


class SlackHandlers(KeysFlow, SettingsFlow, ConfirmFlow, HandlerBase):
    def register(self, app: AsyncApp) -> None:
        early = self.listeners.early  # Bolt answers Slack as soon as a listener acknowledges
        app.command(self.command)(early(self.on_command))
        app.action(home.OPEN_SEARCH)(early(self.on_open_search))
        app.action(ACTION)(early(self.on_action))
        app.action(KEY_DELETE)(early(self.on_key_delete))
        app.action(ASK_ACTION)(early(self.on_confirm))
        app.action(CANCEL_ACTION)(early(self.on_confirm))
        app.view(home.SEARCH_CALLBACK)(early(self.on_search))
        app.view(KEYS_CALLBACK)(early(self.on_keys_submit))
        app.view(SETTINGS_CALLBACK)(early(self.on_settings_submit))
        app.event("message")(early(self.on_message))
        app.event("app_mention")(early(self.on_mention))
        app.event("app_home_opened")(early(self.on_home))

    # --- /consensus ---------------------------------------------------------------------------------------

    async def on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        text = str(command.get("text") or "").strip()
        first, _, rest = text.partition(" ")
        verb, rest = first.lower(), rest.strip()
        if verb == "keys" and rest.partition(" ")[0].lower() not in KEYS_WORDS:
            verb = ""  # "keys to a good API design?" is a question
        if text.lower() in HELP_WORDS:
            usage = home.usage(self.command)
            await ack(text=usage.text, blocks=usage.blocks, response_type="ephemeral")
            return
        if not self.accepting and verb not in ("history", "keys", "leaderboard") and text.lower() != "settings":
            note = blocks.notice(RESTARTING)
            await ack(text=note.text, blocks=note.blocks, response_type="ephemeral")
            return
        leaders = verb == "leaderboard" and (not rest or rest.isdigit())  # "leaderboard of 2024?" is a question
        if verb not in ("keys", "history") and text.lower() != "settings" and not leaders:
            await self.ask_command(ack, command, respond)  # acknowledged with the question's estimate
            return
        await ack()  # first: a modal's trigger_id, and Slack's patience, last 3 s
        team, user, channel = command["team_id"], command["user_id"], command["channel_id"]
        self.people.remember_name(team, user, command.get("user_name"))
        if verb == "keys":
            await self.keys_command(rest, command, respond)
        elif text.lower() == "settings":
            await self.settings_command(command, respond)
        elif leaders:
            board = self._leaderboard(team, channel, int(rest) if rest else DEFAULT_DAYS, respond)
            await self._guard(self._responder(respond), board)
        else:
            await self._guard(self._responder(respond), self._history(team, rest or None, respond))

    async def _ask(
        self,
        question: Question,
        acknowledge: Callable[[], Awaitable[None]] | None = None,
        estimate: Estimate | None = None,
    ) -> None:
        """`acknowledge` once the question is stored: an acknowledged question is never lost, whenever
        the process dies (the store write is a few ms of the 3 s Slack waits). `estimate`: the one just
        made for it, so that it is not made again."""
        batch = await self.service.ask(question, estimate)
        if acknowledge is not None:
            await acknowledge()
        team = question.workspace.external_id
        self.people.look_up_url(team)  # for the ranking's links to the cards, ready when it comes
        await self.renderer.open(batch, asker_name=await self.people.name(team, question.user))

    async def _leaderboard(self, team: str, channel: str, days: int, respond: Any) -> None:
        board = await self.service.leaderboard(workspace(team), channel=channel, days=days)
        blocks = home.leaderboard_blocks(board)
        await respond(text="Consensus leaderboard", blocks=blocks, response_type="ephemeral", replace_original=False)

    async def _history(self, team: str, query: str | None, respond: Any) -> None:
        items = await self.service.history(workspace(team), query, limit=home.MAX_ITEMS)
        names = await self.people.names(team, (i.created_by for i in items))
        shown = home.history_message(items, names, await self.people.workspace_url(team), query)
        await respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral", replace_original=False)

    # --- buttons ------------------------------------------------------------------------------------------

    async def on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        click = actions.parse(str(action.get("action_id") or ""))
        if click is None:
            return
        team, user = team_of(body), body["user"]["id"]
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        reply = self._ephemeral(channel, user, container.get("thread_ts"))
        await self._guard(reply, self._click(click, team, user, (channel, container.get("thread_ts"))))

    async def _click(self, click: actions.Click, team: str, user: str, where: tuple[str | None, str | None]) -> None:
        if click.verb is actions.Verb.EXPORT:
            await self._export(click.target_id, team, user)
            return
        # Slack asked for confirmation already: the button carries a `confirm` dialog
        admin = click.verb in actions.PRIVILEGED and await self.people.is_admin(team, user)
        actor = Actor(workspace(team), user, is_admin=admin)
        change = await actions.perform(self.service, click, actor)
        await self.renderer.show(change, actor.workspace)
        offered = card.offer_after(click.verb, change)
        channel, thread_ts = where
        if offered is not None and channel and isinstance(change, Batch):  # only the clicker sees it
            shown = blocks.offer(offered, change.id)
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=shown.text, blocks=shown.blocks, thread_ts=thread_ts
            )

    async def _export(self, batch_id: int, team: str, user: str) -> None:
        """The decision record, uploaded into the conversation's thread (files.getUploadURLExternal,
        the bytes to its upload URL, files.completeUploadExternal: slack_sdk's files_upload_v2)."""
        found = await export.decision_record(
            self.service, batch_id, workspace(team), lambda users: self.people.names(team, users)
        )
        name = await self.people.name(team, user)
        await self.client.files_upload_v2(
            channel=found.channel,
            thread_ts=found.thread,
            filename=found.name,
            title=found.title,
            content=found.content,
            initial_comment=f"Decision record of this conversation, exported by {escape(name)}.",
        )

    # --- follow-ups in the thread ---------------------------------------------------------------------

    async def on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("subtype") not in (None, "thread_broadcast") or event.get("bot_id"):
            return  # edits, deletions, joins, bots (our own messages included)
        if not event.get("user") or not event.get("thread_ts") or event.get("thread_ts") == event.get("ts"):
            return  # only replies in a thread can be follow-ups
        await self._follow_up(event, body, context)

    async def on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("bot_id") or not event.get("user"):
            return
        if not event.get("thread_ts"):
            hint = f"To ask the models, use `{self.command} <question>`; then reply in its thread to follow up."
            await self._safe_reply(self._ephemeral(event.get("channel"), event["user"]), hint)
            return
        await self._follow_up(event, body, context)

    async def _follow_up(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        team = team_of(body) or str(event.get("team") or "")
        channel, user, thread_ts = event["channel"], event["user"], event["thread_ts"]
        reply = self._ephemeral(channel, user, thread_ts)
        await self._guard(reply, self._continue(team, channel, user, thread_ts, event, body, context))

    async def _continue(
        self,
        team: str,
        channel: str,
        user: str,
        thread_ts: str,
        event: dict[str, Any],
        body: dict[str, Any],
        context: Any,
    ) -> None:
        ws = workspace(team)
        conversation = await self.service.find_conversation(ws, channel, thread_ts)
        if conversation is None:
            return  # a thread that is not ours
        # Slack retries deliveries (same event_id), and a mention in a thread arrives twice
        # (message + app_mention, two event ids, one message ts): claim both.
        if body.get("event_id") and not await self.service.claim_event(ws, str(body["event_id"])):
            return
        if not await self.service.claim_event(ws, f"message:{channel}:{event.get('ts')}"):
            return
        if not self.accepting:
            raise ConsensusError(RESTARTING)
        bot_user = context.get("bot_user_id")
        text = str(event.get("text") or "")
        if bot_user:
            text = text.replace(f"<@{bot_user}>", " ")
        question = Question(ws, channel, user, text.strip(), thread=thread_ts)
        estimate = await self.estimate(question, conversation)
        if await self.confirm_follow_up(conversation, question, str(event.get("ts")), estimate):
            return  # above the threshold: asked once the person confirms
        batch = await self.service.follow_up(conversation, question, estimate)
        self.people.look_up_url(team)
        await self.renderer.open(batch, asker_name=await self.people.name(team, user), follow_up=True)

    # --- App Home and search ---------------------------------------------------------------------------

    async def on_home(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        team = team_of(body)
        items = await self.service.history(workspace(team), None, limit=home.MAX_ITEMS)
        names = await self.people.names(team, (i.created_by for i in items))
        board = await self.service.leaderboard(workspace(team))
        spending = await self.service.spending(workspace(team))
        view = home.home_view(items, names, await self.people.workspace_url(team), board, spending)
        await self.client.views_publish(user_id=event["user"], view=view)

    async def on_open_search(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        await self.client.views_open(trigger_id=body["trigger_id"], view=home.search_modal())

    async def on_search(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def reply(message: str) -> None:
            await ack(response_action="errors", errors={home.SEARCH_BLOCK: message[:150]})

        await self._guard(reply, self._search(ack, team_of(body), home.search_query(view)))

    async def _search(self, ack: Any, team: str, query: str) -> None:
        items = await self.service.history(workspace(team), query or None, limit=home.MAX_ITEMS)
        names = await self.people.names(team, (i.created_by for i in items))
        url = await self.people.workspace_url(team)
        await ack(response_action="update", view=home.results_modal(items, names, url, query))

"""What every group of Slack listeners shares: the service, who is who, the Web API client, and
`_guard`, the one place where core errors become a reply to the person."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.presenter.channels import where_allowed
from adapters.slack import blocks
from adapters.slack.acking import Listeners
from adapters.slack.pacing import slack_error
from adapters.slack.people import People
from adapters.slack.render import ThreadRenderer
from core.domain import Platform, WorkspaceRef
from core.errors import ChannelNotAllowedError, ConsensusError, DuplicateDeliveryError
from core.service import ConsensusService

log = logging.getLogger(__name__)
Reply = Callable[[str], Awaitable[None]]
ERROR_CHARS = 300  # a modal shows an error under its block; keep it to a few lines


def workspace(team_id: str) -> WorkspaceRef:
    return WorkspaceRef(Platform.SLACK, team_id)


def team_of(body: Mapping[str, Any]) -> str:
    team = body.get("team") or {}
    return str(
        body.get("team_id")
        or (team.get("id") if isinstance(team, dict) else team)
        or body.get("user", {}).get("team_id")
        or ""
    )


class HandlerBase:
    def __init__(
        self, service: ConsensusService, renderer: ThreadRenderer, people: People, client: AsyncWebClient, command: str
    ) -> None:
        self.service, self.renderer, self.people = service, renderer, people
        self.client, self.command = client, command
        self.accepting = True  # False while shutting down: questions in flight finish, new ones wait
        self.listeners = Listeners()

    # --- the one place where errors become words ------------------------------------------------------

    async def _guard(self, reply: Reply, work: Awaitable[None]) -> None:
        try:
            await work
        except DuplicateDeliveryError:
            log.info("Slack delivered a request again; it was acted on once")  # acknowledged, nothing said
        except ChannelNotAllowedError as exc:
            await self._safe_reply(reply, where_allowed(exc.channels))
        except ConsensusError as exc:
            await self._safe_reply(reply, str(exc))
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("Slack refused a call: %s", error)
            data = getattr(exc.response, "data", None)
            await self._safe_reply(reply, refusal(error, data.get("needed") if isinstance(data, dict) else None))
        except SlackRequestError:  # a file's bytes were refused at its upload URL
            log.warning("Slack refused a file upload", exc_info=True)
            await self._safe_reply(reply, "Slack did not accept the file. Try again in a moment.")
        except Exception:
            log.exception("Slack handler failed")
            await self._safe_reply(reply, "Something went wrong on our side. Try again in a moment.")

    async def _guard_modal(self, ack: Any, work: Awaitable[None], block_for: Callable[[ConsensusError], str]) -> None:
        """`_guard` for a view_submission: the error is shown in the modal, under the block it
        concerns (`block_for`), instead of closing it. `work` must call `ack()` when it succeeds."""
        where: list[str] = []

        async def noted() -> None:
            try:
                await work
            except ConsensusError as exc:
                where.append(block_for(exc))
                raise

        async def reply(message: str) -> None:
            block = where[0] if where else block_for(ConsensusError(message))
            await ack(response_action="errors", errors={block: modal_error(message)})

        await self._guard(reply, noted())

    @staticmethod
    async def _safe_reply(reply: Reply, message: str) -> None:
        try:
            await reply(message)
        except Exception:
            log.exception("could not tell the user: %s", message)

    def _ephemeral(self, channel: str | None, user: str, thread_ts: str | None = None) -> Reply:
        async def reply(message: str) -> None:
            if not channel:
                log.info("no channel to reply in: %s", message)
                return
            note = blocks.notice(message)
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=note.text, blocks=note.blocks, thread_ts=thread_ts
            )

        return reply

    @staticmethod
    def _responder(respond: Any, *, replace: bool = False) -> Reply:
        """A reply through the request's response_url: ephemeral, only the person sees it."""

        async def reply(message: str) -> None:
            note = blocks.notice(message)
            await respond(text=note.text, blocks=note.blocks, response_type="ephemeral", replace_original=replace)

        return reply


def refusal(error: str, needed: object = None) -> str:
    """What a Slack error code means for the person who clicked or asked."""
    if error in ("not_in_channel", "channel_not_found"):
        return "I can't post in this channel. Invite me with `/invite @Consensus` and ask again."
    if error == "missing_scope":
        scope = f" ({needed})" if isinstance(needed, str) and needed else ""
        return (
            f"Consensus lacks a Slack permission{scope} for this. A workspace admin can add it by "
            "reinstalling the app from its manifest."
        )
    return f"Slack refused the request ({error}). Try again in a moment."


def modal_error(message: str) -> str:
    """Errors under a modal's block are plain text: nothing to escape, only to keep short."""
    flat = " ".join(message.split())
    return flat if len(flat) <= ERROR_CHARS else flat[: ERROR_CHARS - 1] + "…"

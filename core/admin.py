"""The service's keys and settings verbs (what the Slack and Discord modals and `consensus keys` call).
A mixin of ConsensusService, kept apart so each module stays short; each method is one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from core.domain import Actor, Merging, WorkspaceRef
from core.errors import KeyRejectedError, PermissionDeniedError
from core.keyring import KeyRing, RotationReport
from core.keys import KeyInfo, KeyScope, validate_key
from core.settings import ModelSettings, SettingsBook
from core.store.repositories import Repository
from core.store.store import Store

ADMINS_ONLY = "Only an admin can change this workspace's settings."


async def _workspace_id(repo: Repository, ref: WorkspaceRef) -> int:
    found = await repo.workspace_id(ref, create=True)
    assert found is not None
    return found


class AdminVerbs:
    store: Store
    keys: KeyRing
    settings_book: SettingsBook

    # -- keys -----------------------------------------------------------------------------------

    def key_providers(self) -> tuple[str, ...]:
        """Provider names a key can be set for: the configured ones, plus Anthropic and OpenAI."""
        return self.keys.providers()

    async def set_key(self, actor: Actor, provider: str, key: str, scope: KeyScope = "user") -> KeyInfo:
        """Check the key's format, encrypt it and store it, replacing one of the same scope."""
        async with self.store.write() as repo:
            return await self.keys.set(repo, await _workspace_id(repo, actor.workspace), actor, provider, key, scope)

    async def set_checked_key(
        self, actor: Actor, provider: str, key: str, scope: KeyScope = "user"
    ) -> tuple[KeyInfo, str]:
        """Try the key with a cheap call first (slow: after the platform's ack), then store it; a key the
        provider rejects is not stored. Also returns the check's sentence for the actor."""
        key = validate_key(provider, key, self.keys.label(provider))
        accepted, verdict = await self.keys.probe(provider, key, self.settings_book.available)
        if accepted is False:
            raise KeyRejectedError(f"{verdict} It was not stored.")
        return await self.set_key(actor, provider, key, scope), verdict

    async def check_key(self, actor: Actor, provider: str) -> str:
        """A live check with a cheap call; slow, so call it after the platform's ack."""
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(actor.workspace, create=False)
            if workspace_id is None:
                return f"No {self.keys.label(provider)} key is stored for you or the team."
            return await self.keys.check(repo, workspace_id, actor, provider, self.settings_book.available)

    async def list_keys(self, actor: Actor) -> list[KeyInfo]:
        """The workspace's keys and the actor's own: provider, scope, hint and last use, never a key."""
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(actor.workspace, create=False)
            return [] if workspace_id is None else await self.keys.list(repo, workspace_id, actor)

    async def delete_key(self, actor: Actor, provider: str, scope: KeyScope = "user") -> bool:
        async with self.store.write() as repo:
            return await self.keys.delete(repo, await _workspace_id(repo, actor.workspace), actor, provider, scope)

    async def rotate_keys(self) -> RotationReport:
        """Operator only (no actor): re-encrypt every stored key with the first encryption key."""
        async with self.store.write() as repo:
            return await self.keys.rotate_all(repo)

    # -- model settings and limits --------------------------------------------------------------

    async def model_settings(self, workspace: WorkspaceRef, channel: str | None = None) -> ModelSettings:
        async with self.store.read() as repo:
            workspace_id = await repo.workspace_id(workspace, create=False)
            if workspace_id is None:
                return self.settings_book.unset()
            return await self.settings_book.read(repo, workspace_id, channel)

    async def set_models(self, actor: Actor, models: Sequence[str], channel: str | None = None) -> ModelSettings:
        """Admins only. channel None: the workspace default; an empty list for a channel drops its override."""
        if not actor.is_admin:
            raise PermissionDeniedError(ADMINS_ONLY)
        async with self.store.write() as repo:
            workspace_id = await _workspace_id(repo, actor.workspace)
            return await self.settings_book.set_models(repo, workspace_id, models, channel)

    async def set_allowed_channels(self, actor: Actor, channels: Sequence[str] | None) -> ModelSettings:
        """Admins only. The channels where questions may be asked; None: every channel."""
        if not actor.is_admin:
            raise PermissionDeniedError(ADMINS_ONLY)
        async with self.store.write() as repo:
            workspace_id = await _workspace_id(repo, actor.workspace)
            return await self.settings_book.set_allowed_channels(repo, workspace_id, channels)

    async def set_limits(
        self, actor: Actor, *, daily_budget_usd: float | None, questions_per_minute: int | None
    ) -> ModelSettings:
        """Admins only. None puts a limit back to the operator's default (which may be "no limit")."""
        if not actor.is_admin:
            raise PermissionDeniedError(ADMINS_ONLY)
        async with self.store.write() as repo:
            workspace_id = await _workspace_id(repo, actor.workspace)
            return await self.settings_book.set_limits(repo, workspace_id, daily_budget_usd, questions_per_minute)

    async def set_confirmation(self, actor: Actor, confirm_above_usd: float | None) -> ModelSettings:
        """Admins only. Above this estimate (USD) the asker confirms a question first; None: never."""
        if not actor.is_admin:
            raise PermissionDeniedError(ADMINS_ONLY)
        async with self.store.write() as repo:
            workspace_id = await _workspace_id(repo, actor.workspace)
            return await self.settings_book.set_confirmation(repo, workspace_id, confirm_above_usd)

    async def set_merging(self, actor: Actor, merging: Merging, merger: str | None = None) -> ModelSettings:
        """Admins only. When this workspace's questions get a merged answer, and which model writes it."""
        if not actor.is_admin:
            raise PermissionDeniedError(ADMINS_ONLY)
        async with self.store.write() as repo:
            workspace_id = await _workspace_id(repo, actor.workspace)
            return await self.settings_book.set_merging(repo, workspace_id, merging, merger)

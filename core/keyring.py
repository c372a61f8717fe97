"""Stored API keys: set, list, delete, rotate, and which key pays for an answer.

Lookup order for an answer: the asker's own key for the provider, then the workspace's key, then the
operator's key from the configuration. A stored key that cannot be decrypted fails that answer with a
clear reason instead of falling back to the next key: silently charging the team or the operator for
a question the asker meant to pay for would be a surprise, and "set it again" is a quick fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.domain import Actor
from core.errors import (
    ConfigError,
    InvalidKeyError,
    KeyUnreadableError,
    PermissionDeniedError,
    ProviderAuthError,
    ProviderError,
)
from core.keys import KEY_SCOPES, KeyInfo, KeyScope, KeyVault, hint, scrub, validate_key
from core.mapping import aware
from core.providers.base import ChatMessage, ChatRequest
from core.providers.registry import ProviderConfig, ProviderRegistry, split_model_id
from core.store.repositories import Repository
from core.store.tables import ApiKey, utcnow

Payer = Literal["user", "workspace", "operator"]
ALWAYS_OFFERED = ("anthropic", "openai")
NO_VAULT = "Storing API keys is not enabled on this server: the operator has not configured an encryption key for them."


@dataclass(frozen=True, slots=True)
class KeyChoice:
    """The key that pays for one answer. `api_key` None means the operator's configured key."""

    scope: Payer
    hint: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never in a log line that shows the choice
    error: str | None = None  # set when the chosen key cannot be used: the answer fails with it
    stored_id: int | None = None  # the stored key's row: marked used when an answer is started with it

    @property
    def meta(self) -> dict[str, Any]:
        return {"scope": self.scope, "hint": self.hint}


@dataclass(frozen=True, slots=True)
class RotationReport:
    rotated: int
    unreadable: int


class KeyRing:
    """The service's keeper of stored keys; every method runs inside the caller's transaction."""

    def __init__(self, vault: KeyVault | None, registry: ProviderRegistry) -> None:
        self.vault, self.registry = vault, registry

    def providers(self) -> tuple[str, ...]:
        return tuple(sorted({*self.registry.names, *ALWAYS_OFFERED}))

    def label(self, provider: str) -> str:
        return (self.registry.config(provider) or ProviderConfig(name=provider)).display_name

    def _vault(self) -> KeyVault:
        if self.vault is None:
            raise ConfigError(NO_VAULT)
        return self.vault

    def _check(self, actor: Actor, provider: str, scope: str) -> None:
        if scope not in KEY_SCOPES:
            raise InvalidKeyError(f"The scope must be one of: {', '.join(KEY_SCOPES)}.")
        if provider not in self.providers():
            raise InvalidKeyError(f"Keys can be set for: {', '.join(self.providers())}; not '{provider}'.")
        if scope == "workspace" and not actor.is_admin:
            raise PermissionDeniedError("Only an admin can change the team's keys. You can set your own key.")

    async def set(
        self, repo: Repository, workspace_id: int, actor: Actor, provider: str, key: str, scope: KeyScope
    ) -> KeyInfo:
        self._check(actor, provider, scope)
        key = validate_key(provider, key, self.label(provider))
        user_id = actor.user_id if scope == "user" else ""
        now, shown, token = utcnow(), hint(key), self._vault().encrypt(key)
        await repo.keys.put(workspace_id, scope, user_id, provider, token, shown, now)
        return KeyInfo(provider, scope, shown, user_id, now, None, True)

    async def list(self, repo: Repository, workspace_id: int, actor: Actor) -> list[KeyInfo]:
        return [self._info(row) for row in await repo.keys.visible_to(workspace_id, actor.user_id)]

    def _info(self, row: ApiKey) -> KeyInfo:
        scope: KeyScope = "workspace" if row.scope == "workspace" else "user"
        created = aware(row.created_at)
        assert created is not None
        return KeyInfo(
            row.provider,
            scope,
            row.hint,
            row.user_id,
            created,
            aware(row.last_used_at),
            self._readable(row.encrypted_value),
        )

    def _readable(self, token: bytes) -> bool:
        if self.vault is None:
            return False
        try:
            self.vault.decrypt(token)
        except KeyUnreadableError:
            return False
        return True

    async def delete(self, repo: Repository, workspace_id: int, actor: Actor, provider: str, scope: KeyScope) -> bool:
        self._check(actor, provider, scope)
        return await repo.keys.delete(workspace_id, scope, actor.user_id if scope == "user" else "", provider)

    async def rotate_all(self, repo: Repository) -> RotationReport:
        """Re-encrypt every stored key with the first encryption key; unreadable rows stay as they are."""
        vault = self._vault()
        rotated = unreadable = 0
        for row in await repo.keys.all_locked():
            try:
                row.encrypted_value = vault.rotate(row.encrypted_value)
                rotated += 1
            except KeyUnreadableError:
                unreadable += 1
        return RotationReport(rotated, unreadable)

    async def choose_all(
        self, repo: Repository, workspace_id: int | None, user_id: str, model_ids: Sequence[str]
    ) -> dict[str, KeyChoice]:
        """The key that pays for each model of one question ("provider/model" -> choice): the asker's,
        the workspace's, else the operator's. One query for them all; reads only (see `mark_used`)."""
        stored = {} if workspace_id is None else await self._stored(repo, workspace_id, user_id, provider=None)
        by_provider: dict[str, KeyChoice] = {}
        for model_id in model_ids:
            provider = split_model_id(model_id)[0]
            if provider not in by_provider:
                by_provider[provider] = self._pick(stored.get(provider, {}), provider)
        return {model_id: by_provider[split_model_id(model_id)[0]] for model_id in model_ids}

    async def mark_used(self, repo: Repository, choices: Iterable[KeyChoice]) -> None:
        """When the stored keys among `choices` were last used (shown with them): now."""
        if ids := {choice.stored_id for choice in choices if choice.stored_id is not None}:
            await repo.keys.mark_used(ids, utcnow())

    async def _stored(
        self, repo: Repository, workspace_id: int, user_id: str, provider: str | None
    ) -> dict[str, dict[str, ApiKey]]:
        """The asker's and the workspace's keys (of one provider, or all): provider -> scope -> row."""
        stored: dict[str, dict[str, ApiKey]] = {}
        for row in await repo.keys.payable(workspace_id, user_id, provider):
            stored.setdefault(row.provider, {})[row.scope] = row
        return stored

    def _pick(self, rows: dict[str, ApiKey], provider: str) -> KeyChoice:
        row = rows.get("user") or rows.get("workspace")
        if row is None:
            return KeyChoice("operator")
        scope: Payer = "user" if row.scope == "user" else "workspace"
        try:
            return KeyChoice(scope, row.hint, self._vault().decrypt(row.encrypted_value), stored_id=row.id)
        except (KeyUnreadableError, ConfigError):
            whose = f"Your {self.label(provider)} key" if scope == "user" else f"The team's {self.label(provider)} key"
            fix = "set it again" if scope == "user" else "an admin must set it again"
            return KeyChoice(scope, row.hint, error=f"{whose} {row.hint} could not be decrypted; {fix}.")

    async def check(
        self, repo: Repository, workspace_id: int, actor: Actor, provider: str, models: Sequence[str]
    ) -> str:
        """A cheap live call with the stored key the actor would pay with; a sentence for the actor."""
        label = self.label(provider)
        stored = await self._stored(repo, workspace_id, actor.user_id, provider)
        choice = self._pick(stored.get(provider, {}), provider)
        if choice.error or choice.api_key is None:
            return choice.error or f"No {label} key is stored for you or the team."
        return (await self.probe(provider, choice.api_key, models))[1]

    async def probe(self, provider: str, api_key: str, models: Sequence[str]) -> tuple[bool | None, str]:
        """Try a key with a one-token call to one of the provider's configured models: (accepted, a
        sentence), accepted None when it could not be told (no model configured, provider unreachable)."""
        label, shown = self.label(provider), hint(api_key)
        model = next((m for m in models if split_model_id(m)[0] == provider), None)
        if model is None:
            return None, f"No {label} model is configured, so the key {shown} could not be checked."
        try:
            await (await self.registry.provider(model, api_key)).complete(
                ChatRequest(messages=(ChatMessage("user", "ping"),), max_tokens=1)
            )
        except ProviderAuthError:
            return False, f"{label} rejected the key {shown}."
        except ProviderError as exc:
            reason = scrub(exc.message, [api_key])
            return None, f"{label} could not be reached to check the key {shown}: {reason}"
        return True, f"{label} accepted the key {shown}."

"""Builds the core from settings: store, providers, fan-out and service, and closes them again."""

from __future__ import annotations

from dataclasses import dataclass

from bot.cli_base import consensus_command
from bot.encryption import load_vault
from bot.settings import Settings
from core.errors import ConfigError, SchemaNotCurrentError
from core.events import EventBus
from core.fanout import FanOut, FanOutSettings
from core.keyring import KeyRing
from core.metrics import Metrics
from core.pricing import PriceTable
from core.providers.limits import OutputLimits
from core.providers.registry import ProviderRegistry
from core.ranking import ConsensusRanker, JudgeRanker, Ranker
from core.resilience import CallPolicy, ResilientCaller
from core.service import ConsensusService
from core.settings import Limits
from core.store.db import is_sqlite
from core.store.store import Store


@dataclass
class Core:
    settings: Settings
    store: Store
    registry: ProviderRegistry
    fanout: FanOut
    service: ConsensusService

    def warm(self) -> None:
        """Start importing the models' SDKs in a worker thread, so that a server's first question does
        not wait for them (a terminal command imports them on its first call, after its rows show)."""
        self.registry.warm((*self.settings.models, *self.settings.helper_models))

    async def aclose(self, deadline: float = 0.0) -> None:
        await self.fanout.stop(deadline)
        await self.registry.aclose()
        await self.service.writes.drain()  # where the last cards were posted
        await self.store.aclose()


def make_ranker(settings: Settings, registry: ProviderRegistry) -> Ranker:
    fallback = ConsensusRanker()
    if settings.consensus_reviewer:
        reviewer = settings.consensus_reviewer
        limit = OutputLimits(settings.consensus_max_tokens).limit(reviewer)
        return JudgeRanker(registry.deferred(reviewer), fallback, twice=True, max_tokens=limit)
    return fallback


async def build_core(
    settings: Settings,
    *,
    migrate: bool | None = None,
    policy: CallPolicy | None = None,
    metrics: Metrics | None = None,
) -> Core:
    """`migrate`: apply migrations first; by default only for the embedded SQLite database."""
    store = Store(settings.database_url)
    try:
        try:
            await store.prepare(migrate=migrate if migrate is not None else is_sqlite(settings.database_url))
        except SchemaNotCurrentError as exc:
            raise ConfigError(f"DATABASE_URL: {exc}: run `{consensus_command()} db upgrade`.") from None
        except ConfigError as exc:
            raise ConfigError(f"DATABASE_URL: {exc}") from None
        vault = load_vault(settings)  # production without CONSENSUS_ENCRYPTION_KEYS stops here
    except BaseException:
        await store.aclose()
        raise
    registry = ProviderRegistry(settings.provider_configs())
    policy = policy or CallPolicy(
        timeout=settings.consensus_timeout,
        max_retries=settings.consensus_retries,
        retry_after_cap=settings.consensus_retry_after_cap,
        concurrency_per_provider=settings.consensus_concurrency,
    )
    bus = EventBus()
    fanout = FanOut(
        store,
        registry,
        ResilientCaller(policy, metrics=metrics),
        make_ranker(settings, registry),
        PriceTable(settings.consensus_prices),
        bus,
        FanOutSettings(
            lease_seconds=settings.consensus_lease_seconds, output_limits=OutputLimits(settings.consensus_max_tokens)
        ),
        metrics=metrics,
        keys=KeyRing(vault, registry),
        merger=settings.merger,
    )
    limits = Limits(settings.consensus_daily_budget_usd, settings.consensus_questions_per_minute)
    service = ConsensusService(
        store, fanout, bus, registry, settings.models, limits=limits, mergers=settings.helper_models
    )
    return Core(settings, store, registry, fanout, service)

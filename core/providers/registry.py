"""Turns "provider/model" ids into Provider objects, one pooled SDK client per (provider, key).

Every provider kind is an entry in one table, `kind -> "module:attribute"`, loaded the way a plug-in
is: the built-in kinds ("openai", "anthropic", "openai-compatible" for Ollama, vLLM, OpenRouter, Groq,
LM Studio, Gemini...) are seeded in it, other kinds come from installed packages through the entry-point
group "consensus.providers". An entry loads either a factory `(config: ProviderConfig, model: str) ->
Provider`, or a `PooledFactory` whose models share one SDK client per (provider, key).
A kind's module is imported when the first provider of that kind is built: importing an SDK takes about
a second, which a command that asks no model should not pay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import reduce
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

from core.errors import ConfigError, ConsensusError
from core.providers.base import ChatRequest, Completion, OnText, Provider

ENTRY_POINT_GROUP = "consensus.providers"
BUILTIN_FACTORIES = {
    "openai": "core.providers.openai:OPENAI",
    "openai-compatible": "core.providers.openai:OPENAI_COMPATIBLE",
    "anthropic": "core.providers.anthropic:ANTHROPIC",
}
ProviderFactory = Callable[["ProviderConfig", str], Provider]

_LABELS = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "ollama": "Ollama",
    "vllm": "vLLM",
    "openrouter": "OpenRouter",
    "groq": "Groq",
    "lmstudio": "LM Studio",
    "gemini": "Gemini",
    "mistral": "Mistral",
    "deepseek": "DeepSeek",
    "together": "Together AI",
    "xai": "xAI",
}


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one provider. `api_key` never shows in repr or logs."""

    name: str  # the prefix of model ids: "openai", "ollama"
    kind: str = "openai-compatible"  # "openai" | "anthropic" | "openai-compatible" | a plugin's kind
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    label: str = ""  # for people; defaults from the name ("Ollama")
    timeout: float = 300.0  # the SDK's own backstop; the engine's CallPolicy sets the real limit

    @property
    def display_name(self) -> str:
        # A name we do not know keeps the spelling it was configured with ("LiteLLM", not "Litellm").
        return self.label or _LABELS.get(self.name.lower(), self.name)

    def required_key(self) -> str:
        if not self.api_key:
            raise ConfigError(f"No API key is configured for {self.display_name} ('{self.name}').")
        return self.api_key

    def required_base_url(self, example: str) -> str:
        if not self.base_url:
            raise ConfigError(f"No base URL is configured for {self.display_name} ('{self.name}'), e.g. {example}.")
        return self.base_url


@runtime_checkable
class PooledFactory(Protocol):
    """A factory whose models share one SDK client per (provider, key); the registry pools the clients
    and closes them (`await client.close()`) in `aclose`."""

    def client(self, config: ProviderConfig) -> Any:
        """A new SDK client for `config` (its `api_key` is the one to use); ConfigError if it cannot be."""
        ...

    def build(self, client: Any, config: ProviderConfig, model: str) -> Provider: ...


def split_model_id(model_id: str) -> tuple[str, str]:
    """ "ollama/llama3.2:3b" -> ("ollama", "llama3.2:3b"); the model part may itself contain "/"."""
    name, sep, model = model_id.partition("/")
    if not sep or not name or not model:
        raise ConfigError(f"Model '{model_id}' should look like 'provider/model', e.g. 'openai/gpt-5-mini'.")
    return name, model


class ProviderRegistry:
    """Builds providers on demand and owns their SDK clients; `aclose()` closes them all."""

    def __init__(self, configs: Mapping[str, ProviderConfig]) -> None:
        self._configs = dict(configs)
        self._clients: dict[tuple[str, str | None], Any] = {}  # the SDK's AsyncOpenAI or AsyncAnthropic
        self._providers: dict[tuple[str, str | None, str], Provider] = {}
        self._kinds = {kind: EntryPoint(kind, target, ENTRY_POINT_GROUP) for kind, target in BUILTIN_FACTORIES.items()}
        self._installed_scanned = False
        self._factories: dict[str, ProviderFactory] = {}  # kind -> its loaded factory, pooling included
        self._imports: dict[str, asyncio.Future[None]] = {}  # a kind's module -> its import in a worker thread

    def config(self, name: str) -> ProviderConfig | None:
        """How provider `name` ("openai", "ollama") is reached, if it is configured."""
        return self._configs.get(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._configs))

    def label(self, model_id: str) -> str:
        """The provider's name for people ("OpenAI"), without building anything; unknown: ConfigError."""
        return self._config_for(model_id)[0].display_name

    async def provider(self, model_id: str, api_key: str | None = None) -> Provider:
        """`get`, after importing the provider's module (its SDK) in a worker thread (once): the event loop
        keeps serving while it loads, instead of stopping for a second or two inside `get`."""
        entry = self._entry(self._config_for(model_id)[0].kind)
        if entry is not None:
            await asyncio.shield(self._import(entry.module))
        return self.get(model_id, api_key)

    def warm(self, model_ids: Iterable[str]) -> None:
        """Start importing these models' SDKs now (in a worker thread), so the first question finds them loaded."""
        for model_id in model_ids:
            with contextlib.suppress(ConsensusError):  # a broken model fails on its own card later
                if (entry := self._entry(self._config_for(model_id)[0].kind)) is not None:
                    self._import(entry.module)

    async def loaded(self) -> None:
        """Once every import started so far has ended (a failed one fails its models' cards later)."""
        await asyncio.gather(*self._imports.values(), return_exceptions=True)

    def deferred(self, model_id: str) -> Provider:
        """A provider for holders built before any call (the judge): it is built on its first call."""
        return _Deferred(self, model_id, self.label(model_id))

    def _import(self, module: str) -> asyncio.Future[None]:
        """Import `module` once, in a daemon thread: a stop right after start does not wait for it."""
        if (loading := self._imports.get(module)) is None:
            loop = asyncio.get_running_loop()
            loading = self._imports[module] = loop.create_future()

            def settle(error: BaseException | None) -> None:
                if not loading.done():
                    loading.set_exception(error) if error else loading.set_result(None)

            def run() -> None:
                error: BaseException | None = None
                try:
                    importlib.import_module(module)
                except BaseException as exc:  # handed to whoever awaits the import
                    error = exc
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                    loop.call_soon_threadsafe(settle, error)

            threading.Thread(target=run, name=f"import {module}", daemon=True).start()
        return loading

    def get(self, model_id: str, api_key: str | None = None) -> Provider:
        """The provider for "provider/model", using `api_key` (a workspace's own) over the configured one."""
        config, model = self._config_for(model_id)
        name = config.name
        key = api_key or config.api_key
        cache_key = (name, key, model)
        if (provider := self._providers.get(cache_key)) is None:
            provider = self._build(config, key, model)
            self._providers[cache_key] = provider
        return provider

    def _config_for(self, model_id: str) -> tuple[ProviderConfig, str]:
        name, model = split_model_id(model_id)
        config = self._configs.get(name)
        if config is None:
            known = ", ".join(sorted(self._configs)) or "none"
            raise ConfigError(
                f"No provider named '{name}' is configured (needed for '{model_id}'); "
                f"configure '{name}' with its base URL and API key. Configured: {known}."
            )
        return config, model

    def _build(self, config: ProviderConfig, key: str | None, model: str) -> Provider:
        return self._factory(config)(dataclasses.replace(config, api_key=key), model)

    def _factory(self, config: ProviderConfig) -> ProviderFactory:
        if (factory := self._factories.get(config.kind)) is None:
            entry = self._entry(config.kind)
            if entry is None:
                raise ConfigError(
                    f"Provider '{config.name}' has kind '{config.kind}', but no installed package "
                    f"provides it (entry-point group '{ENTRY_POINT_GROUP}')."
                )
            factory = self._factories[config.kind] = self._adopt(config.kind, _load(entry))
        return factory

    def _adopt(self, kind: str, target: object) -> ProviderFactory:
        """What an entry loaded, as a factory; a pooled one shares its clients through this registry."""
        if isinstance(target, PooledFactory):
            pooled = target
            return lambda config, model: pooled.build(self._client(config, pooled), config, model)
        if callable(target):
            return _checked(kind, target)
        raise ConfigError(f"The '{kind}' provider plugin does not load a factory.")

    def _entry(self, kind: str) -> EntryPoint | None:
        """The table entry for `kind`: a built-in, else an installed package's (looked for once)."""
        if kind not in self._kinds and not self._installed_scanned:
            self._installed_scanned = True
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._kinds.setdefault(ep.name, ep)  # a built-in kind keeps its own factory
        return self._kinds.get(kind)

    def _client(self, config: ProviderConfig, factory: PooledFactory) -> Any:
        """One pooled SDK client per (provider, key), shared by all of that provider's models."""
        if (client := self._clients.get((config.name, config.api_key))) is None:
            client = self._clients[(config.name, config.api_key)] = factory.client(config)
        return client

    async def aclose(self) -> None:
        """Close every provider and pooled client this registry created."""
        providers, clients = list(self._providers.values()), list(self._clients.values())
        self._providers.clear()
        self._clients.clear()
        for provider in providers:
            await provider.aclose()  # shares a client: no-op; plugin: its own clean-up
        for client in clients:
            await client.close()


class _Deferred:
    def __init__(self, registry: ProviderRegistry, model_id: str, label: str) -> None:
        self._registry, self.id, self.label = registry, model_id, label

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        return await (await self._registry.provider(self.id)).complete(request, on_text)

    async def aclose(self) -> None:  # the registry closes what it built
        pass


def _load(entry: EntryPoint) -> object:
    """The entry's object; its module is imported here unless `ProviderRegistry._import` already did."""
    module = sys.modules.get(entry.module) or importlib.import_module(entry.module)
    return reduce(getattr, entry.attr.split("."), module)


def _checked(kind: str, factory: Callable[..., object]) -> ProviderFactory:
    """A plug-in's factory, refusing what is not a provider."""

    def build(config: ProviderConfig, model: str) -> Provider:
        provider = factory(config, model)
        if not isinstance(provider, Provider):
            raise ConfigError(f"The '{kind}' provider plugin did not return a provider.")
        return provider

    return build

"""Turns "provider/model" ids into Provider objects, one pooled SDK client per (provider, key).

Built-in kinds: "openai", "anthropic" and "openai-compatible" (Ollama, vLLM, OpenRouter, Groq, LM Studio,
Gemini...). Other kinds come from installed packages through the entry-point group "consensus.providers";
each entry point loads a factory `(config: ProviderConfig, model: str) -> Provider`.
The SDKs are imported when the first provider of their kind is built: importing one takes about a
second, which a command that asks no model should not pay.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from core.errors import ConfigError, ConsensusError
from core.providers.base import ChatRequest, Completion, OnText, Provider

ENTRY_POINT_GROUP = "consensus.providers"
BUILTIN_KINDS = ("openai", "anthropic", "openai-compatible")
SDK_MODULES = {"openai": "core.providers.openai", "openai-compatible": "core.providers.openai",
               "anthropic": "core.providers.anthropic"}
ProviderFactory = Callable[["ProviderConfig", str], Provider]

_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "ollama": "Ollama", "vllm": "vLLM",
           "openrouter": "OpenRouter", "groq": "Groq", "lmstudio": "LM Studio", "gemini": "Gemini",
           "mistral": "Mistral", "deepseek": "DeepSeek", "together": "Together AI", "xai": "xAI"}


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
        self._plugins: dict[str, ProviderFactory] | None = None
        self._imports: dict[str, asyncio.Future[None]] = {}  # SDK module -> its import in a worker thread

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
        """`get`, after importing the provider's SDK in a worker thread (once): the event loop keeps
        serving while it loads, instead of stopping for a second or two inside `get`."""
        module = SDK_MODULES.get(self._config_for(model_id)[0].kind)
        if module is not None:
            await asyncio.shield(self._import(module))
        return self.get(model_id, api_key)

    def warm(self, model_ids: Iterable[str]) -> None:
        """Start importing these models' SDKs now (in a worker thread), so the first question finds them loaded."""
        for model_id in model_ids:
            with contextlib.suppress(ConsensusError):  # a broken model fails on its own card later
                if (module := SDK_MODULES.get(self._config_for(model_id)[0].kind)) is not None:
                    self._import(module)

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
            raise ConfigError(f"No provider named '{name}' is configured (needed for '{model_id}'); "
                              f"configure '{name}' with its base URL and API key. Configured: {known}.")
        return config, model

    def _build(self, config: ProviderConfig, key: str | None, model: str) -> Provider:
        label = config.display_name
        if config.kind == "anthropic":
            if not key:
                raise ConfigError(f"No API key is configured for {label} ('{config.name}').")
            from core.providers import anthropic as anthropic_provider

            client = self._client(config, key, anthropic_provider.make_client)
            return anthropic_provider.AnthropicProvider(client, model, name=config.name, label=label)
        if config.kind in ("openai", "openai-compatible"):
            if config.kind == "openai" and not key:
                raise ConfigError(f"No API key is configured for {label} ('{config.name}').")
            if config.kind == "openai-compatible" and not config.base_url:
                raise ConfigError(f"No base URL is configured for {label} ('{config.name}'), "
                                  "e.g. http://localhost:11434/v1 for Ollama.")
            from core.providers import openai as openai_provider

            client = self._client(config, key, openai_provider.make_client)
            return openai_provider.OpenAIProvider(client, model, name=config.name, label=label,
                                                  official=config.kind == "openai")
        factory = self._plugin(config.kind)
        if factory is None:
            raise ConfigError(f"Provider '{config.name}' has kind '{config.kind}', but no installed package "
                              f"provides it (entry-point group '{ENTRY_POINT_GROUP}').")
        return factory(dataclasses.replace(config, api_key=key), model)

    def _client(self, config: ProviderConfig, key: str | None, make: Callable[..., Any]) -> Any:
        """One pooled SDK client per (provider, key), shared by all of that provider's models."""
        if (client := self._clients.get((config.name, key))) is None:
            client = self._clients[(config.name, key)] = make(key, config.base_url, config.timeout)
        return client

    def _plugin(self, kind: str) -> ProviderFactory | None:
        if self._plugins is None:
            self._plugins = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                self._plugins.setdefault(ep.name, _lazy(ep.load))
        return self._plugins.get(kind)

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


def _lazy(load: Callable[[], object]) -> ProviderFactory:
    """Import a plugin only when a configured provider needs it."""

    def factory(config: ProviderConfig, model: str) -> Provider:
        target = load()
        if not callable(target):
            raise ConfigError(f"The '{config.kind}' provider plugin does not load a factory.")
        provider = target(config, model)
        if not isinstance(provider, Provider):
            raise ConfigError(f"The '{config.kind}' provider plugin did not return a provider.")
        return provider

    return factory

"""Model ids to providers: parsing, one pooled client per (provider, key), config errors, plugins."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigError
from core.providers.anthropic import AnthropicProvider
from core.providers.base import ChatMessage, ChatRequest
from core.providers.openai import OpenAIProvider
from core.providers.registry import BUILTIN_FACTORIES, ENTRY_POINT_GROUP, ProviderConfig, ProviderRegistry
from tests.fakes.llm_server import FakeLLMServer

REQUEST = ChatRequest((ChatMessage("user", "hello"),))


@pytest.fixture
async def registry(llm_server: FakeLLMServer) -> AsyncIterator[ProviderRegistry]:
    made = ProviderRegistry(
        {
            "openai": ProviderConfig("openai", "openai", f"{llm_server.url}/v1", "sk-test-openai-1234"),
            "anthropic": ProviderConfig("anthropic", "anthropic", llm_server.url, "sk-ant-test-1234"),
            "ollama": ProviderConfig("ollama", "openai-compatible", f"{llm_server.url}/v1"),
            "openrouter": ProviderConfig("openrouter", base_url=f"{llm_server.url}/v1", api_key="sk-or-1234"),
        }
    )
    yield made
    await made.aclose()


async def test_builds_providers_that_answer(llm_server: FakeLLMServer, registry: ProviderRegistry) -> None:
    llm_server.answers.update(
        {
            "gpt-5-mini": "openai",
            "claude-haiku-4-5": "anthropic",
            "llama3.2:3b": "ollama",
            "meta-llama/llama-3-8b": "openrouter",
        }
    )
    for model_id, cls, label in [
        ("openai/gpt-5-mini", OpenAIProvider, "OpenAI"),
        ("anthropic/claude-haiku-4-5", AnthropicProvider, "Anthropic"),
        ("ollama/llama3.2:3b", OpenAIProvider, "Ollama"),
        ("openrouter/meta-llama/llama-3-8b", OpenAIProvider, "OpenRouter"),
    ]:
        provider = registry.get(model_id)
        assert isinstance(provider, cls)
        assert (provider.id, provider.label) == (model_id, label)
        assert (await provider.complete(REQUEST)).text == model_id.partition("/")[0]
    assert [b["model"] for b in llm_server.requests("chat")] == ["gpt-5-mini", "llama3.2:3b", "meta-llama/llama-3-8b"]


async def test_the_sdk_loads_once_in_a_worker_thread(
    registry: ProviderRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded_on: list[tuple[str, bool]] = []
    real_import = importlib.import_module

    def recording_import(name: str) -> Any:
        loaded_on.append((name, threading.current_thread() is threading.main_thread()))
        return real_import(name)

    monkeypatch.setattr(importlib, "import_module", recording_import)
    registry.warm(["openai/gpt-5", "nosuch/model"])  # an unknown provider fails later, on its own card
    first = await registry.provider("openai/gpt-5")
    second = await registry.provider("ollama/llama3.2:3b")  # the same SDK: no second import
    assert isinstance(first, OpenAIProvider) and isinstance(second, OpenAIProvider)
    assert loaded_on == [("core.providers.openai", False)]  # off the event loop's thread


async def test_a_deferred_provider_is_built_on_its_first_call(
    llm_server: FakeLLMServer, registry: ProviderRegistry
) -> None:
    llm_server.answers["claude-haiku-4-5"] = "judged"
    judge = registry.deferred("anthropic/claude-haiku-4-5")
    assert (judge.id, judge.label) == ("anthropic/claude-haiku-4-5", "Anthropic")
    assert llm_server.calls == []
    assert (await judge.complete(REQUEST)).text == "judged"
    with pytest.raises(ConfigError, match="No provider named 'mistral'"):
        registry.deferred("mistral/large")


async def test_models_of_a_provider_share_one_client_per_key(registry: ProviderRegistry) -> None:
    a, b = registry.get("openai/gpt-5"), registry.get("openai/gpt-5-mini")
    assert registry.get("openai/gpt-5") is a
    assert isinstance(a, OpenAIProvider) and isinstance(b, OpenAIProvider)
    assert a._client is b._client
    own = registry.get("openai/gpt-5", api_key="sk-workspace-key-99")
    assert isinstance(own, OpenAIProvider) and own._client is not a._client
    assert own._client.api_key == "sk-workspace-key-99"
    await a.aclose()  # a shared provider's aclose leaves the pool to the registry
    assert not b._client.is_closed()
    await registry.aclose()
    assert a._client.is_closed() and own._client.is_closed()


async def test_keyless_compatible_server_gets_a_dummy_key(registry: ProviderRegistry) -> None:
    provider = registry.get("ollama/llama3.2:3b")
    assert isinstance(provider, OpenAIProvider) and provider._client.api_key


@pytest.mark.parametrize(
    "model_id,needle",
    [
        ("mistral/large", "No provider named 'mistral'"),
        ("gpt-5", "should look like 'provider/model'"),
        ("openai/", "should look like 'provider/model'"),
        ("/gpt-5", "should look like 'provider/model'"),
    ],
)
def test_unknown_or_malformed_ids_are_config_errors(registry: ProviderRegistry, model_id: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        registry.get(model_id)


async def test_missing_settings_name_what_to_configure() -> None:
    registry = ProviderRegistry(
        {
            "openai": ProviderConfig("openai", "openai"),
            "anthropic": ProviderConfig("anthropic", "anthropic"),
            "vllm": ProviderConfig("vllm"),
            "custom": ProviderConfig("custom", "no-such-kind"),
        }
    )
    with pytest.raises(ConfigError, match="No API key is configured for OpenAI"):
        registry.get("openai/gpt-5")
    with pytest.raises(ConfigError, match="No API key is configured for Anthropic"):
        registry.get("anthropic/claude-sonnet-4-5")
    with pytest.raises(ConfigError, match="No base URL is configured for vLLM"):
        registry.get("vllm/qwen")
    with pytest.raises(ConfigError, match=ENTRY_POINT_GROUP):
        registry.get("custom/x")
    await registry.aclose()


def test_config_repr_hides_the_key() -> None:
    config = ProviderConfig("openai", "openai", None, "sk-test-very-secret")
    assert "sk-test-very-secret" not in repr(config) and "sk-test-very-secret" not in str(config)


async def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "consensus_echo_plugin.py").write_text(
        textwrap.dedent("""
        from core.providers.base import Completion

        class EchoProvider:
            closed = []

            def __init__(self, config, model):
                self.config, self.model = config, model
                self.id, self.label = f"{config.name}/{model}", config.label or "Echo"

            async def complete(self, request, on_text=None):
                text = f"{self.config.api_key}:{self.model}:{request.messages[-1].content}"
                if on_text is not None:
                    await on_text(text)
                return Completion(text, 1, 1)

            async def aclose(self):
                EchoProvider.closed.append(self.id)

        def factory(config, model):
            return EchoProvider(config, model)
    """)
    )
    dist = tmp_path / "consensus_echo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: consensus-echo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\necho = consensus_echo_plugin:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    registry = ProviderRegistry({"myecho": ProviderConfig("myecho", "echo", api_key="k1", label="My Echo")})
    provider: Any = registry.get("myecho/model-a")
    assert (provider.id, provider.label) == ("myecho/model-a", "My Echo")
    assert registry.get("myecho/model-a") is provider
    assert (await provider.complete(REQUEST)).text == "k1:model-a:hello"
    other: Any = registry.get("myecho/model-a", api_key="k2")
    assert (await other.complete(REQUEST)).text == "k2:model-a:hello"
    await registry.aclose()
    assert sorted(type(provider).closed) == ["myecho/model-a", "myecho/model-a"]


def test_a_configured_name_keeps_its_spelling() -> None:
    assert ProviderConfig(name="LiteLLM").display_name == "LiteLLM"
    assert ProviderConfig(name="my-proxy").display_name == "my-proxy"
    assert ProviderConfig(name="ollama").display_name == "Ollama"
    assert ProviderConfig(name="OpenRouter").display_name == "OpenRouter"
    assert ProviderConfig(name="litellm", label="LiteLLM proxy").display_name == "LiteLLM proxy"


def test_importing_the_registry_loads_no_sdk() -> None:
    """The SDKs load on first need, in a worker thread; importing the registry must not pull them in."""
    code = (
        "import sys, core.providers.registry; "
        "print(sorted(m for m in ('openai', 'anthropic', 'core.providers.openai', 'core.providers.anthropic') "
        "if m in sys.modules))"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "[]"


async def test_built_in_kinds_load_through_the_plugin_table(registry: ProviderRegistry) -> None:
    assert set(BUILTIN_FACTORIES) == {"openai", "openai-compatible", "anthropic"}
    assert isinstance(registry.get("anthropic/claude-haiku-4-5"), AnthropicProvider)
    assert isinstance(registry.get("ollama/llama3.2:3b"), OpenAIProvider)


async def test_a_plugin_can_pool_one_client_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "consensus_pooled_plugin.py").write_text(
        textwrap.dedent("""
        import threading

        from core.providers.base import Completion

        IMPORTED_ON_MAIN_THREAD = threading.current_thread() is threading.main_thread()

        class Client:
            def __init__(self, key):
                self.key, self.closed = key, False

            async def close(self):
                self.closed = True

        class PooledProvider:
            def __init__(self, client, config, model):
                self.client, self.id, self.label = client, f"{config.name}/{model}", config.display_name

            async def complete(self, request, on_text=None):
                return Completion(f"{self.client.key}:{self.id}", 1, 1)

            async def aclose(self):
                pass

        class Factory:
            def client(self, config):
                return Client(config.api_key)

            def build(self, client, config, model):
                return PooledProvider(client, config, model)

        FACTORY = Factory()
    """)
    )
    dist = tmp_path / "consensus_pooled_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: consensus-pooled-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\npooled = consensus_pooled_plugin:FACTORY\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    registry = ProviderRegistry({"mine": ProviderConfig("mine", "pooled", api_key="k1")})
    a: Any = await registry.provider("mine/model-a")
    b: Any = registry.get("mine/model-b")
    own: Any = registry.get("mine/model-a", api_key="k2")
    assert importlib.import_module("consensus_pooled_plugin").IMPORTED_ON_MAIN_THREAD is False
    assert a.client is b.client and own.client is not a.client
    assert (await own.complete(REQUEST)).text == "k2:mine/model-a"
    await registry.aclose()
    assert a.client.closed and own.client.closed

"""Configuration, read once at start-up from the environment and `.env`."""

from __future__ import annotations

import os
from functools import cached_property

from dotenv import dotenv_values
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError
from core.providers.registry import ProviderConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/consensus.db"

# OpenAI-compatible servers known by name; `<NAME>_BASE_URL` overrides, `<NAME>_API_KEY` authenticates.
KNOWN_COMPATIBLE = {
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
    "lmstudio": "http://localhost:1234/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "groq": "https://api.groq.com/openai/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai/",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
}
KEYLESS = {"ollama", "vllm", "lmstudio"}  # local servers that accept any key


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = DEFAULT_DATABASE_URL
    consensus_models: str = Field(default="", description="comma list of provider/model")
    consensus_reviewer: str | None = None
    consensus_env: str = "development"

    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_command: str = "/consensus"

    discord_token: SecretStr | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: str = ""
    discord_message_content: bool = False
    discord_shard_count: int | None = Field(default=None, ge=1, description="total shards, across every process")
    discord_shard_ids: str = Field(default="", description="comma list of the shards this process runs; empty: all")

    consensus_encryption_keys: SecretStr | None = Field(
        default=None, description="comma list of Fernet keys; the first encrypts stored API keys")
    consensus_daily_budget_usd: float | None = Field(default=None, ge=0, description="per workspace; unset: none")
    consensus_questions_per_minute: int | None = Field(default=None, ge=1, description="per user; unset: none")
    consensus_timeout: float = Field(default=60.0, gt=0, description="seconds per model call")
    consensus_retries: int = Field(default=3, ge=0, le=10)
    consensus_retry_after_cap: float = Field(default=30.0, gt=0)
    consensus_concurrency: int = Field(default=16, ge=1, description="calls in flight per provider, all questions")
    consensus_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='JSON: {"provider/model" or "provider/*": [usd_in, usd_out] per million}')
    consensus_max_tokens: dict[str, int] = Field(
        default_factory=dict, description='JSON: {"provider/model", "provider/*" or "*": output limit in tokens}')
    consensus_lease_seconds: float = Field(default=60.0, gt=0, description="a dead process's batches resume after this")
    consensus_shutdown_seconds: float = Field(default=25.0, ge=0, description="on SIGTERM: seconds to finish")

    host: str = "0.0.0.0"
    port: int = 8080
    log_level: str | None = None  # default: INFO for `serve`, WARNING for terminal commands
    log_format: str = "text"
    log_sdk_debug: bool = False  # the SDKs' DEBUG lines hold request bodies: explicit opt-in only

    @cached_property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.strip() for m in self.consensus_models.split(",") if m.strip()))

    @property
    def encryption_keys(self) -> tuple[str, ...]:
        raw = self.consensus_encryption_keys.get_secret_value() if self.consensus_encryption_keys else ""
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret, for the log redaction filter."""
        values = [getattr(self, name) for name in type(self).model_fields]
        found = [v.get_secret_value() for v in values if isinstance(v, SecretStr)]
        found += [c.api_key for c in self.provider_configs().values() if c.api_key and c.api_key != "local"]
        return tuple(dict.fromkeys(s.strip() for part in found for s in part.split(",") if len(s.strip()) >= 8))

    @property
    def guild_ids(self) -> tuple[int, ...]:
        try:
            return tuple(int(g) for g in self.discord_guild_ids.replace(" ", "").split(",") if g)
        except ValueError as exc:
            raise ConfigError("DISCORD_GUILD_IDS must be a comma list of numeric server ids.") from exc

    @property
    def shard_ids(self) -> tuple[int, ...]:
        try:
            return tuple(int(s) for s in self.discord_shard_ids.replace(" ", "").split(",") if s)
        except ValueError as exc:
            raise ConfigError("DISCORD_SHARD_IDS must be a comma list of shard numbers, e.g. 0,1.") from exc

    def provider_configs(self) -> dict[str, ProviderConfig]:
        """Every provider named in CONSENSUS_MODELS or CONSENSUS_REVIEWER, with its URL and key."""
        env = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
        names = {m.partition("/")[0] for m in (*self.models, self.consensus_reviewer or "") if m}
        configs = {}
        for name in names:
            prefix = name.upper().replace("-", "_")
            if name == "anthropic":
                key, url, kind = self.anthropic_api_key, self.anthropic_base_url, "anthropic"
            elif name == "openai":
                key, url, kind = self.openai_api_key, self.openai_base_url, "openai"
            else:
                raw = env.get(f"{prefix}_API_KEY")
                key = SecretStr(raw) if raw else None
                url = env.get(f"{prefix}_BASE_URL") or KNOWN_COMPATIBLE.get(name)
                kind = env.get(f"{prefix}_KIND", "openai-compatible")
            api_key = key.get_secret_value() if key else ("local" if name in KEYLESS else None)
            configs[name] = ProviderConfig(name=name, kind=kind, base_url=url, api_key=api_key)
        return configs

    def check_models(self) -> None:
        """Fail at start-up, naming the variables, when no model could answer."""
        if not self.models:
            raise ConfigError(
                "No models are configured. Set CONSENSUS_MODELS to a comma list of provider/model, e.g. "
                "CONSENSUS_MODELS=anthropic/claude-sonnet-4-5,openai/gpt-5-mini,ollama/llama3.2:3b, "
                "with ANTHROPIC_API_KEY and OPENAI_API_KEY (and OLLAMA_BASE_URL for a remote Ollama)."
            )
        for name, config in self.provider_configs().items():
            if config.api_key is None and config.kind in ("anthropic", "openai"):
                raise ConfigError(f"{name}/… models are configured but {name.upper()}_API_KEY is not set.")
            if config.base_url is None and config.kind == "openai-compatible":
                raise ConfigError(f"{name}/… models are configured but {name.upper()}_BASE_URL is not set.")

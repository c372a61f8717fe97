"""Configuration, read once at start-up from the environment and `.env`."""

from __future__ import annotations

import json
import os
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError
from core.providers.registry import ProviderConfig

DATABASE_FILE = "consensus.db"
LEGACY_DATABASE = Path("data") / DATABASE_FILE  # the default before CONSENSUS_HOME: relative to the folder
DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}
DATABASE_EXAMPLES = "sqlite+aiosqlite:///path/to/consensus.db or postgresql+asyncpg://user:password@host/database"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# "provider/model": a provider name that can prefix an environment variable, a model id without spaces.
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[^\s,;]+")

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

    database_url: str = Field(default="", description="unset: consensus.db in CONSENSUS_HOME")
    consensus_home: Path | None = Field(default=None, description="unset: the user's data folder")
    consensus_models: str = Field(default="", description="comma list of provider/model")
    consensus_reviewer: str | None = None
    consensus_merger: str | None = Field(default=None, description="provider/model that writes merged answers")
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
        default=None, description="comma list of Fernet keys; the first encrypts stored API keys"
    )
    consensus_daily_budget_usd: float | None = Field(default=None, ge=0, description="per workspace; unset: none")
    consensus_questions_per_minute: int | None = Field(default=None, ge=1, description="per user; unset: none")
    consensus_timeout: float = Field(default=60.0, gt=0, description="seconds per model call")
    consensus_retries: int = Field(default=3, ge=0, le=10)
    consensus_retry_after_cap: float = Field(default=30.0, gt=0)
    consensus_concurrency: int = Field(default=64, ge=1, description="calls in flight per provider, all questions")
    consensus_prices: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=dict, description='JSON: {"provider/model" or "provider/*": [usd_in, usd_out] per million}'
    )
    consensus_max_tokens: dict[str, int] = Field(
        default_factory=dict, description='JSON: {"provider/model", "provider/*" or "*": output limit in tokens}'
    )
    consensus_lease_seconds: float = Field(default=60.0, gt=0, description="a dead process's batches resume after this")
    consensus_shutdown_seconds: float = Field(default=25.0, ge=0, description="on SIGTERM: seconds to finish")

    host: str = "0.0.0.0"
    port: int = 8080
    log_level: str | None = None  # default: INFO for `serve`, WARNING for terminal commands
    log_format: str = "text"
    log_sdk_debug: bool = False  # the SDKs' DEBUG lines hold request bodies: explicit opt-in only

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the plain forms (postgresql://, sqlite:///) by mapping them to the async drivers."""
        if not url:
            return url
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(f"'{url}' is not a database URL; expected {DATABASE_EXAMPLES}") from None
        driver = DRIVERS.get(parsed.drivername, parsed.drivername)
        if driver not in DRIVERS.values():
            raise ValueError(
                f"'{parsed.drivername}' is not supported (given "
                f"{parsed.render_as_string(hide_password=True)}); expected {DATABASE_EXAMPLES}"
            )
        return parsed.set(drivername=driver).render_as_string(hide_password=False)

    @field_validator("consensus_prices", mode="before")
    @classmethod
    def _prices(cls, raw: Any) -> Any:
        example = '{"ollama/*": [0, 0], "openai/gpt-5-mini": [0.25, 2.0]}'
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except json.JSONDecodeError:
                raise ValueError(f"{raw[:60]!r} is not JSON; expected {example}") from None
        valid = isinstance(raw, dict) and all(
            isinstance(price, list | tuple)
            and len(price) == 2
            and all(isinstance(p, int | float) and not isinstance(p, bool) and p >= 0 for p in price)
            for price in raw.values()
        )
        if not valid:
            raise ValueError(
                f'expected an object of "provider/model" or "provider/*" to '
                f"[USD per million input tokens, USD per million output tokens], e.g. {example}"
            )
        return raw

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, level: str | None) -> str | None:
        if level is not None and level.upper() not in LOG_LEVELS:
            raise ValueError(f"{level!r} is not a level; expected one of {', '.join(LOG_LEVELS)}")
        return level.upper() if level else None

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, fmt: str) -> str:
        if fmt.lower() not in ("text", "json"):
            raise ValueError(f"{fmt!r} is not a format; expected text or json")
        return fmt.lower()

    @field_validator("consensus_models")
    @classmethod
    def _models(cls, raw: str) -> str:
        for entry in (m.strip() for m in raw.split(",")):
            if entry and not MODEL_ID.fullmatch(entry):
                raise ValueError(
                    f"{entry!r} is not a model; expected provider/model entries separated by "
                    "commas, e.g. anthropic/claude-sonnet-4-5,openai/gpt-5-mini"
                )
        return raw

    @field_validator("consensus_reviewer", "consensus_merger")
    @classmethod
    def _one_model(cls, raw: str | None) -> str | None:
        if raw and not MODEL_ID.fullmatch(raw.strip()):
            raise ValueError(f"{raw!r} is not a model; expected one provider/model, e.g. openai/gpt-5-mini")
        return raw.strip() if raw else None

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = "sqlite+aiosqlite:///" + str(self.default_database_path())
        return self

    def default_database_path(self) -> Path:
        """CONSENSUS_HOME's database, else the user's data folder's, so that every folder a command runs
        in sees the same history and keys; an existing ./data/consensus.db is kept."""
        if self.consensus_home is not None:
            return self.consensus_home.expanduser().resolve() / DATABASE_FILE
        if self.database_found_here:
            return LEGACY_DATABASE.resolve()
        from platformdirs import user_data_path

        return user_data_path("consensus", appauthor=False) / DATABASE_FILE

    @cached_property
    def database_found_here(self) -> bool:
        """An existing ./data/consensus.db (the old default) is in use: DATABASE_URL and CONSENSUS_HOME unset."""
        return (
            self.consensus_home is None
            and LEGACY_DATABASE.is_file()
            and self.database_url in ("", "sqlite+aiosqlite:///" + str(LEGACY_DATABASE.resolve()))
        )

    @cached_property
    def models(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.strip() for m in self.consensus_models.split(",") if m.strip()))

    @property
    def helper_models(self) -> tuple[str, ...]:
        """The reviewer and the merger, where configured."""
        return tuple(m for m in (self.consensus_reviewer, self.consensus_merger) if m)

    @property
    def merger(self) -> str | None:
        """The model that writes merged answers by default: CONSENSUS_MERGER, else the reviewer (None:
        the top-ranked answer's model)."""
        return self.consensus_merger or self.consensus_reviewer

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
        """Every provider named in CONSENSUS_MODELS, CONSENSUS_REVIEWER or CONSENSUS_MERGER, with its URL and key."""
        env = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
        names = {m.partition("/")[0] for m in (*self.models, *self.helper_models) if m}
        configs = {}
        for name in names:
            prefix = re.sub(r"[.-]", "_", name.upper())
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

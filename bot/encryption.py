"""The encryption key for stored API keys: CONSENSUS_ENCRYPTION_KEYS, or on the embedded SQLite default
a key generated into the data folder. Production refuses to start without the variable, because a key
file beside the database protects nothing once both are copied together."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.settings import Settings
from core.errors import ConfigError
from core.keys import KeyVault

log = logging.getLogger(__name__)
VARIABLE = "CONSENSUS_ENCRYPTION_KEYS"
KEY_FILE = "encryption.key"
GENERATE_HINT = (
    'Generate one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


def sqlite_folder(url: str) -> Path | None:
    """The folder of the SQLite file; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).parent


def key_file(settings: Settings) -> Path | None:
    """The generated key file stored API keys are encrypted with, when CONSENSUS_ENCRYPTION_KEYS is unset."""
    folder = sqlite_folder(settings.database_url)
    return None if settings.encryption_keys or folder is None else folder / KEY_FILE


def load_vault(settings: Settings) -> KeyVault | None:
    """The vault for stored API keys; None (keys cannot be stored) on PostgreSQL without the variable."""
    keys = settings.encryption_keys
    if keys:
        try:
            return KeyVault(keys)
        except ConfigError as exc:
            raise ConfigError(f"{VARIABLE}: {exc} {GENERATE_HINT}") from None
    if settings.consensus_env.lower() == "production":
        raise ConfigError(
            f"{VARIABLE} is not set; CONSENSUS_ENV=production refuses to start without it, "
            f"because stored API keys are encrypted with it. {GENERATE_HINT}"
        )
    path = key_file(settings)
    if path is None:
        log.warning("%s is not set: API keys cannot be stored in this database until it is.", VARIABLE)
        return None
    try:
        return KeyVault([_key_file(path)])
    except ConfigError as exc:
        raise ConfigError(f"The key file {path} is damaged ({exc}); restore it from a backup.") from None


def _key_file(path: Path) -> str:
    """Read the generated key, or create it (mode 0600, never overwritten). Creating it is a WARNING;
    reusing it is logged at INFO, which `serve` shows at every start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        log.info(
            "%s is not set: stored API keys are encrypted with the key in %s. Keep that file "
            "private and backed up; set %s in production.",
            VARIABLE,
            path,
            VARIABLE,
        )
        return key
    key = KeyVault.generate()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.warning(
        "%s is not set: generated an encryption key for stored API keys in %s (mode 0600). "
        "Keep that file private and backed up; set %s in production.",
        VARIABLE,
        path,
        VARIABLE,
    )
    return key

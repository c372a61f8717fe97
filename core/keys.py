"""API keys at rest: encryption (MultiFernet), the format check per provider, and the hint people see.

The plaintext of a key lives only in memory, for the call it pays for. It is never stored, logged or
put in an error message: errors name the provider and the expected shape, and hints show 4 characters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError, InvalidKeyError, KeyUnreadableError

KeyScope = Literal["workspace", "user"]
KEY_SCOPES: tuple[KeyScope, ...] = ("workspace", "user")
GENERIC_MIN, GENERIC_MAX = 8, 512
_PRINTABLE = frozenset(string.printable) - frozenset(string.whitespace)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What may be shown about a stored key: never the key itself."""

    provider: str
    scope: KeyScope
    hint: str  # "••3f9a"
    user_id: str  # "" for the workspace's key
    created_at: datetime
    last_used_at: datetime | None
    readable: bool = True  # False: the configured encryption keys cannot decrypt it


@dataclass(frozen=True, slots=True)
class KeyShape:
    """A provider's key format: a regular expression and, for people, how it looks."""

    pattern: re.Pattern[str]
    looks_like: str


def _shape(prefix: str, body: str, looks_like: str) -> KeyShape:
    return KeyShape(re.compile(re.escape(prefix) + body), looks_like)


# Known shapes. Lengths are generous bounds around what the providers issue today, so a new
# generation of keys of the same family still passes; a pasted message or a truncated key does not.
_BODY = "followed by 20 to 250 letters, digits, '-' or '_'"
KEY_SHAPES: dict[str, KeyShape] = {
    "openai": _shape("sk-", r"(?!ant-|or-)[A-Za-z0-9_\-]{20,250}", f"'sk-' or 'sk-proj-' {_BODY}"),
    "anthropic": _shape("sk-ant-", r"[A-Za-z0-9_\-]{20,250}", f"'sk-ant-' {_BODY}"),
    "openrouter": _shape("sk-or-", r"[A-Za-z0-9_\-]{20,250}", f"'sk-or-' {_BODY}"),
    "groq": _shape("gsk_", r"[A-Za-z0-9]{20,120}", "'gsk_' followed by 20 to 120 letters or digits"),
    "gemini": _shape("AIza", r"[A-Za-z0-9_\-]{35}", "'AIza' followed by 35 letters, digits, '-' or '_' (39 in all)"),
}
# Prefixes that identify a provider, to say "that is an Anthropic key" when pasted in the wrong place.
_FAMILIES = (
    ("sk-ant-", "anthropic", "Anthropic"),
    ("sk-or-", "openrouter", "OpenRouter"),
    ("gsk_", "groq", "Groq"),
    ("AIza", "gemini", "Gemini"),
    ("sk-", "openai", "OpenAI"),
)


def validate_key(provider: str, key: str, label: str | None = None) -> str:
    """The key with surrounding whitespace removed, or InvalidKeyError naming the expected shape."""
    name = label or provider
    key = key.strip()
    if not key:
        raise InvalidKeyError(f"The API key for {name} is empty. Paste the key your {name} account shows.")
    if not all(ch in _PRINTABLE for ch in key):
        raise InvalidKeyError(
            f"That API key for {name} contains spaces or characters a key never has. "
            "Copy it again, without quotes or line breaks."
        )
    shape = KEY_SHAPES.get(provider)
    if shape is None:
        if not GENERIC_MIN <= len(key) <= GENERIC_MAX:
            raise InvalidKeyError(
                f"API keys for {name} should be {GENERIC_MIN} to {GENERIC_MAX} characters long; "
                f"that one has {len(key)}."
            )
        return key
    if shape.pattern.fullmatch(key):
        return key
    family = next(((owner, shown) for prefix, owner, shown in _FAMILIES if key.startswith(prefix)), None)
    if family is not None and family[0] != provider:
        raise InvalidKeyError(
            f"That key looks like it is for {family[1]}, not {name}. API keys for {name} are {shape.looks_like}."
        )
    raise InvalidKeyError(f"That does not look like an API key for {name}: they are {shape.looks_like}.")


def hint(key: str) -> str:
    """The last four characters, for people telling their keys apart: "••3f9a"."""
    return "••" + key[-4:]


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """Text with every given secret replaced, for errors that are stored or shown."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


class KeyVault:
    """Encrypts with the first key and decrypts with any, so keys can be rotated without downtime."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError("No encryption key was given for stored API keys.")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError):
                raise ConfigError(
                    f"Encryption key #{position} is not a Fernet key (32 url-safe base64-encoded bytes, 44 characters)."
                ) from None
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError):
            raise KeyUnreadableError() from None

    def rotate(self, token: bytes) -> bytes:
        """The same secret encrypted with the first key (its original timestamp kept)."""
        try:
            return self._fernet.rotate(bytes(token))
        except InvalidToken:
            raise KeyUnreadableError() from None

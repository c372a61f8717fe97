"""KeyVault (MultiFernet), the key format check per provider, and the hint."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from core.errors import ConfigError, InvalidKeyError, KeyUnreadableError
from core.keys import KeyVault, hint, scrub, validate_key

GOOD = {
    "openai": ["sk-" + "a1B2" * 10, "sk-proj-" + "Zz_9-" * 20],
    "anthropic": ["sk-ant-api03-" + "x" * 90],
    "openrouter": ["sk-or-v1-" + "0f" * 32],
    "groq": ["gsk_" + "Ab3" * 17],
    "gemini": ["AIza" + "S" * 35],
    "mistral": ["abcdefgh12345678"],
}


@pytest.mark.parametrize(("provider", "key"), [(p, k) for p, keys in GOOD.items() for k in keys])
def test_known_shapes_pass_and_surrounding_whitespace_goes(provider: str, key: str) -> None:
    assert validate_key(provider, f"  {key}\n") == key


BAD = [
    ("openai", "sk-short", "'sk-' or 'sk-proj-'"),
    ("openai", "sk-ant-api03-" + "x" * 40, "for Anthropic, not Openai"),  # pasted in the wrong place
    ("openai", "pk-" + "a" * 40, "'sk-' or 'sk-proj-'"),
    ("anthropic", "sk-" + "a" * 40, "for OpenAI, not Anthropic"),
    ("openrouter", "sk-or-" + "a" * 5, "'sk-or-'"),
    ("groq", "gsk_" + "a" * 10, "'gsk_'"),
    ("gemini", "AIza" + "S" * 34, "39 in all"),
    ("mistral", "short", "8 to 512"),
    ("mistral", "x" * 513, "8 to 512"),
    ("openai", "sk-" + "a" * 20 + " " + "b" * 20, "spaces"),
    ("openai", "sk-" + "é" * 30, "spaces or characters"),
    ("openai", "   ", "empty"),
]


@pytest.mark.parametrize(("provider", "key", "says"), BAD)
def test_bad_keys_name_the_provider_and_shape_never_the_key(provider: str, key: str, says: str) -> None:
    with pytest.raises(InvalidKeyError) as caught:
        validate_key(provider, key, provider.title())
    assert says in caught.value.message
    assert provider.title() in caught.value.message
    if key.strip():
        assert key.strip() not in caught.value.message
        assert key.strip()[-8:] not in caught.value.message


def test_hint_and_scrub() -> None:
    assert hint("sk-proj-abcdef3f9a") == "••3f9a"
    assert scrub("bad key sk-proj-abcdef3f9a!", ["sk-proj-abcdef3f9a", None]) == "bad key [redacted]!"


def test_vault_round_trip_and_rotation_with_two_keys() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = KeyVault([old]).encrypt("sk-secret-value")
    assert b"sk-secret-value" not in token
    both = KeyVault([new, old])
    assert both.decrypt(token) == "sk-secret-value"
    rotated = both.rotate(token)
    assert KeyVault([new]).decrypt(rotated) == "sk-secret-value"
    with pytest.raises(KeyUnreadableError):
        KeyVault([old]).decrypt(rotated)
    with pytest.raises(KeyUnreadableError):
        KeyVault([new]).decrypt(token)  # the old key is gone: that value alone is unreadable


@pytest.mark.parametrize("keys", [[], ["not-a-fernet-key"], [Fernet.generate_key().decode(), "short"]])
def test_bad_encryption_keys_fail_clearly(keys: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"Fernet|No encryption key"):
        KeyVault(keys)

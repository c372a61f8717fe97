"""What an HTTP error status from a provider means, in words a person can act on.

A gateway or proxy in front of a provider often answers with an HTML or plain-text page, so the
SDK has nothing better to say than "Error code: 413"; these sentences say what the status means.
A 404 is most often a base URL without (or with an extra) `/v1`: it names the URL tried and the
setting's convention.
"""

from __future__ import annotations

import httpx2

# A refused request (4xx) whose body carries no message: what the status says. `{L}`: the provider.
REFUSALS = {
    400: "{L} could not understand the request",
    405: "that address does not take this request (is the base URL right?)",
    406: "{L} cannot answer in the format asked for",
    410: "that address is gone",
    413: "the request is too large for {L}",
    414: "the request address is too long for {L}",
    415: "{L} does not take this kind of request",
    422: "{L} could not process the request",
    431: "the request headers are too large for {L}",
}
# Server-side statuses that say more than "a server error": the whole sentence.
SERVER_FAILURES = {
    501: "{L} does not support this request (501)",
    502: "a gateway in front of {L} got no valid answer from it (502)",
    503: "{L} is unavailable or overloaded (503)",
    504: "a gateway in front of {L} timed out waiting for it (504)",
}


def refusal(status: int, label: str) -> str:
    return REFUSALS.get(status, "{L} refused it").format(L=label)


def server_failure(status: int, label: str) -> str:
    return SERVER_FAILURES.get(status, "{L} had a server error ({status})").format(L=label, status=status)


def shown_url(url: httpx2.URL | str) -> str:
    """The address tried, without credentials or query string (either may hold a key)."""
    parsed = httpx2.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def base_url_setting(name: str) -> str:
    """The setting that holds a provider's base URL: "openai" -> OPENAI_BASE_URL (see bot/settings)."""
    return f"{name.upper().replace('-', '_')}_BASE_URL"


def base_url_convention(name: str, *, anthropic: bool) -> str:
    """How that setting is written: OpenAI-style servers take the `/v1`, Anthropic's SDK adds it."""
    setting = base_url_setting(name)
    if anthropic:
        return f"{setting} should not end in /v1 (e.g. https://api.anthropic.com)"
    example = "https://api.openai.com/v1" if name == "openai" else "http://localhost:11434/v1"
    return f"{setting} should end in /v1 (e.g. {example})"

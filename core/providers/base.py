"""What every model provider offers the fan-out: one call that turns a chat into a completion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from core.domain import Ending

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat to complete. `system` holds our instructions; `messages` alternate user/assistant."""

    messages: tuple[ChatMessage, ...]
    system: str = ""
    max_tokens: int = 4096  # the output limit; for reasoning models it includes the reasoning


@dataclass(frozen=True, slots=True)
class Completion:
    """What a model sent: the answer (its reasoning taken out), how it ended, and the usage."""

    text: str
    tokens_in: int | None = None
    tokens_out: int | None = None  # reasoning tokens included, as they are billed
    ended: Ending = Ending.COMPLETE
    thinking: str = ""  # the model's reasoning: `<think>` text, reasoning fields, thinking blocks
    replaced_characters: bool = False  # bytes that were not UTF-8 were read as U+FFFD
    reasoning_tokens: int | None = None  # of tokens_out, where the provider reports them


# Called with the whole text received so far, while a streamed answer arrives.
OnText = Callable[[str], Awaitable[None]]


@runtime_checkable
class Provider(Protocol):
    id: str  # "anthropic/claude-sonnet-4-5": stored with each answer
    label: str  # the provider's name for people: "Anthropic", "OpenAI", "Ollama"

    async def complete(self, request: ChatRequest, on_text: OnText | None = None) -> Completion:
        """Answer the chat, or raise a core.errors.ProviderError subclass (never an SDK error)."""
        ...

    async def aclose(self) -> None: ...


def endpoint(provider: Provider) -> str:
    """The base URL a provider's calls go to, where it says (`base_url`); a plugin need not."""
    return str(getattr(provider, "base_url", "") or "")

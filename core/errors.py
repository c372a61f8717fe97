"""Errors the core raises. Every message is short and safe to show a user; details go to logs."""

from __future__ import annotations


class ConsensusError(Exception):
    """Base of every error the core raises on purpose."""

    default_message = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(ConsensusError):
    default_message = "The bot is not configured correctly."


class SchemaNotCurrentError(ConfigError):
    """The database's schema is not the code's: the migrations must be applied first."""


class InvalidQuestionError(ConsensusError):
    default_message = "That question cannot be asked."


class DuplicateDeliveryError(ConsensusError):
    """The platform delivered a request that was already received (a retry or a replay): it was
    acted on once, and the repeat is acknowledged without a word."""

    default_message = "That request was already received."


class ConfirmationNeededError(ConsensusError):
    """The question's estimate is above the workspace's confirmation threshold and the asker has not
    confirmed it: nothing was stored or spent."""

    default_message = "This question's estimated cost is above this workspace's threshold; confirm it first."


class PermissionDeniedError(ConsensusError):
    default_message = "You are not allowed to do that."


class ChannelNotAllowedError(PermissionDeniedError):
    """An admin limited the channels where questions may be asked, and this is not one of them."""

    default_message = "Consensus does not answer in this channel."

    def __init__(self, channels: tuple[str, ...]) -> None:
        super().__init__(f"{self.default_message} An admin allowed questions in: {', '.join(channels)}.")
        self.channels = channels  # the adapters link them the platform's way


class RateLimitedError(ConsensusError):
    """A limit of ours (questions per minute, daily budget) was reached."""

    default_message = "Too many questions; try again shortly."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds until a question would be accepted


class BudgetExceededError(RateLimitedError):
    """The workspace's daily budget is spent; questions resume at 00:00 UTC."""

    default_message = "This workspace has spent its daily budget; questions resume at 00:00 UTC."


class InvalidKeyError(ConsensusError):
    """An API key that fails its provider's format check. The message never holds the key."""

    default_message = "That does not look like an API key."


class KeyRejectedError(InvalidKeyError):
    """The provider refused the key when it was checked; it was not stored."""


class KeyUnreadableError(ConsensusError):
    """A stored key that the configured encryption keys cannot decrypt."""

    default_message = "A stored API key could not be decrypted; set it again."


class InvalidSettingsError(ConsensusError):
    """Model settings or limits that cannot be applied."""

    default_message = "Those settings cannot be applied."


class StorageError(ConsensusError):
    default_message = "The conversation store is unavailable."


class NotFoundError(StorageError):
    default_message = "That conversation or answer no longer exists."


class ProviderError(ConsensusError):
    """A model call failed. `retryable` tells the fan-out whether another attempt may help."""

    default_message = "The model failed to answer."
    retryable = False

    def __init__(self, message: str | None = None, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class ProviderTimeoutError(ProviderError):
    default_message = "The model took too long to answer."
    retryable = True


class ProviderUnavailableError(ProviderError):
    """Server errors, overload and dropped connections: worth another try."""

    default_message = "The model's service is unavailable."
    retryable = True


class ProviderRateLimitedError(ProviderError):
    default_message = "Rate limited by the model's service."
    retryable = True

    def __init__(self, message: str | None = None, *, provider: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, provider=provider)
        self.retry_after = retry_after


class ProviderQuotaError(ProviderError):
    """Money or quota ran out: retrying only burns time."""

    default_message = "The model's quota or spending limit is exhausted."


class ProviderAuthError(ProviderError):
    default_message = "The API key was rejected."


class ProviderResponseError(ProviderError):
    """Bad request, or a reply we could not read."""

    default_message = "The model's service sent a reply that could not be read."

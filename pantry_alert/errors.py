"""One exception tree for the whole library.

Every error the library raises on purpose is a ``PantryAlertError``; each
subclass carries the exit code of SPEC §2, so the CLI maps errors to exit
codes in exactly one place (``cli.main``).  Messages say what is wrong and
where; ``hint`` says how to fix it.
"""

from __future__ import annotations


class PantryAlertError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class UsageError(PantryAlertError):
    """Bad command-line input (a bad duration, an ambiguous bare number...)."""

    exit_code = 2


class ConfigError(PantryAlertError):
    """rules.yaml is missing or invalid.  ``problems`` lists every problem found."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, problems: list[str] | None = None):
        super().__init__(message, hint)
        self.problems = problems or []


class MetricsError(PantryAlertError):
    """The metrics document could not be read or parsed."""

    exit_code = 3


class StateError(PantryAlertError):
    """The state database is unusable: locked, corrupt, foreign or newer."""

    exit_code = 4


class NotFoundError(PantryAlertError):
    """The thing asked for does not exist or is already in that state."""

    exit_code = 1


class ChannelError(PantryAlertError):
    """A notification channel is unknown, not configured, or failed."""

    exit_code = 1


class ChannelNotConfigured(ChannelError):
    exit_code = 2


class DeliveryError(ChannelError):
    """One send failed.  ``retryable`` False means a retry cannot help
    (e.g. a webhook 4xx other than 408/429); ``retry_after_ms`` is a hint from
    the peer (Slack's Retry-After).  The message must never contain a secret:
    channels pass it through ``notify.base.scrub`` before raising."""

    def __init__(self, message: str, retryable: bool = True, retry_after_ms: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms

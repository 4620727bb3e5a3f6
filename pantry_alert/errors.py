"""One exception tree for the whole library.

Every error the library raises on purpose is a ``PantryAlertError``.  Messages
say what is wrong and where (file, line, rule id, URL); ``hint`` says how to
fix it.  The library knows no exit codes: the command line maps these classes
to its exit codes (``cli.exit_code_for``) and the HTTP API to status codes.
Lower-level errors are wrapped with ``raise ... from exc``.
"""

from __future__ import annotations


class PantryAlertError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class UsageError(PantryAlertError):
    """Bad input from a person or program (a bad duration, an ambiguous bare number...)."""


class UnknownRule(UsageError):
    """A rule id that rules.yaml does not define (``silence add``, ``rules update``)."""


class UnknownHeartbeat(UsageError):
    """A heartbeat name that rules.yaml does not define (``ping``, ``/ping/...``)."""


class ConfigProblem:
    """One problem of a config file: its message (``file:line: key.path: what``), key path and line."""

    __slots__ = ("text", "keys", "line")

    def __init__(self, text: str, keys: tuple = (), line: int | None = None):
        self.text, self.keys, self.line = text, tuple(keys), line

    def __repr__(self) -> str:
        return f"ConfigProblem({self.text!r}, keys={self.keys!r}, line={self.line!r})"


class ConfigError(PantryAlertError):
    """rules.yaml is missing or invalid.  ``problems`` lists every problem found (as text);
    ``located`` the same problems with their key path and line, when they were found in a
    parsed document.  ``keys`` and ``line`` say where a single problem is (a channel's
    ``settings`` names the key under its section this way)."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        problems: list[str] | None = None,
        *,
        keys: tuple = (),
        line: int | None = None,
        located: list[ConfigProblem] | None = None,
    ):
        super().__init__(message, hint)
        self.problems = problems or []
        self.keys = tuple(keys)
        self.line = line
        self.located = located or []


class ConfigNotWritable(ConfigError):
    """rules.yaml could not be rewritten (a read-only file system, permissions, a full disk)."""


class ExpressionError(ConfigError):
    """A ``when`` expression or a description template is invalid (found when the config loads)."""


class Unevaluable(PantryAlertError):
    """A rule cannot be evaluated on this metrics document (a metric missing, not a number, ...)."""


class MetricsError(PantryAlertError):
    """The metrics document could not be read or parsed."""


class StateError(PantryAlertError):
    """The state database is unusable: locked, corrupt, foreign, newer, or not writable."""


class StateLocked(StateError):
    """The run lock or the database stayed busy past ``state.lock_timeout`` (a ``check`` is running):
    trying again later can succeed."""


class NotFoundError(PantryAlertError):
    """The thing asked for does not exist (or, for resolve, is already resolved)."""


class ConflictError(PantryAlertError):
    """The thing asked for exists but is already in that state (acknowledged twice, ...)."""


class ChannelError(PantryAlertError):
    """A notification channel is unknown, not configured, or failed."""


class ChannelNotConfigured(ChannelError):
    """The channel asked for is unknown or has no settings."""


class DeliveryError(ChannelError):
    """One send failed.  ``retryable`` False means a retry cannot help
    (e.g. a webhook 4xx other than 408/429); ``retry_after_ms`` is a hint from
    the peer (Slack's Retry-After).  ``answered`` False: the request went out
    but no answer came back in time, so it may have arrived.  The message must
    never contain a secret: channels pass it through ``redact.scrub`` before raising."""

    def __init__(self, message: str, retryable: bool = True, retry_after_ms: int | None = None, answered: bool = True):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_ms = retry_after_ms
        self.answered = answered

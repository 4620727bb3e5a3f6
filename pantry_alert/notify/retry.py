"""The retry stage: when a failed send is tried again, and when delivery gives up.

A failed send is retried in later runs with backoff (1 min doubling to 1 h, or
the peer's Retry-After when longer) for 24 h, then marked ``failed`` for good;
a send that cannot succeed on retry (``DeliveryError.retryable`` false) fails
at once.  The error text is scrubbed of the channels' secrets before it is
stored.
"""

from __future__ import annotations

from ..redact import scrub
from ..store.outbox import Notice, Outcome

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from ..errors import DeliveryError

BACKOFF_START_MS = 60_000
BACKOFF_MAX_MS = 3_600_000
GIVE_UP_AFTER_MS = 24 * 3_600_000


def backoff_ms(attempts: int, retry_after_ms: int | None = None) -> int:
    """The wait before attempt ``attempts + 1``: doubling from 1 min to 1 h, or the peer's Retry-After."""
    delay = min(BACKOFF_START_MS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_MS)
    return max(delay, retry_after_ms or 0)


def expired(notice: Notice, now: int) -> bool:
    """True once a notice is too old to be tried again (24 h after it was recorded)."""
    return now - notice.created_at >= GIVE_UP_AFTER_MS


def outcome(notice: Notice, error: DeliveryError | None, now: int, secrets: list[str | None]) -> Outcome:
    """What to record for one send: delivered, retried later (with its time), or failed for good."""
    if error is None:
        return Outcome(notice)
    text = scrub(error.message, secrets)
    final = not error.retryable or expired(notice, now)
    retry_at = None if final else now + backoff_ms(notice.attempts + 1, error.retry_after_ms)
    return Outcome(notice, text, retry_at, answered=error.answered)

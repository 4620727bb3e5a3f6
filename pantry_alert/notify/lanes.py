"""Lanes: each channel's worker threads, its session and the sends it has in flight.

- Each channel has a small pool of worker threads: at most ``max_parallel``
  sends of one channel are in flight at once (default 8; a channel declared
  ``serial``, the console, sends one at a time, so its lines never
  interleave).  The workers share one
  session per channel and run (one HTTP client with keep-alive for the
  webhook, one Slack client, reused SMTP connections), so a storm of a
  thousand notices opens a handful of connections, not a thousand.
  Channels send concurrently: one channel failing or hanging never stops
  another.
- A worker reports each send twice on the run's results queue:
  ``(STARTED, lane, notice, monotonic time)`` when it begins and
  ``(DONE, lane, notice, error or None)`` when the channel answered.  The
  run stops waiting for a send at its lane's ``deadline``: the channel's
  timeout plus ``GRACE_S``.
- Workers never touch the database: the run loop (``notify.delivery``)
  decides what each lane sends and records what comes back.

A channel module may offer ``open_session(settings)``, returning an object
with ``send(message)`` (callable from several threads at once) and
``close()``; a channel without it is sent through ``send(settings, message)``.

``threading`` and ``queue`` are imported only when a lane is made: a run
with nothing due starts no workers.
"""

from __future__ import annotations

import time
from collections import deque

from ..errors import DeliveryError
from ..timeutil import budget_seconds
from .registry import capabilities

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    import queue
    from typing import Any

    from ..store.outbox import Notice
    from .base import Message

GRACE_S = 2.0  # on top of a channel's own timeout before the run stops waiting for a send
GRACE_S_ENV = "PANTRY_ALERT_GRACE_SECONDS"  # overrides it (the tests shorten it)
STARTED, DONE = "started", "done"  # the two reports a worker puts on the results queue per send

__all__ = ["DONE", "GRACE_S", "GRACE_S_ENV", "STARTED", "Lane"]


class Lane:
    """One channel's sends in this run: its session, its workers, its queue of groups.

    A group is the due notices of one alert to this channel, oldest first; only
    its first notice may be sent, and the next one only after that outcome is
    committed."""

    def __init__(self, name: str, module, settings, results: queue.SimpleQueue):
        self.name = name
        self.module = module
        self.settings = settings
        self.results = results
        from .base import DEFAULT_MAX_PARALLEL

        limit = 1 if capabilities(name).serial else getattr(settings, "max_parallel", DEFAULT_MAX_PARALLEL)
        self.limit = max(1, int(limit))
        self.ready: deque[list[Notice]] = deque()  # a group is a short list (usually one notice)
        from queue import SimpleQueue

        self.jobs: queue.SimpleQueue = SimpleQueue()
        self.workers = 0
        self.outstanding = 0  # jobs handed to the workers whose result has not come back
        self.abandoned = 0  # of those, sends given up on as hung
        self.session: Any = None
        self.open_error: DeliveryError | None = None

    def start(self) -> None:
        opener = getattr(self.module, "open_session", None)
        if opener is not None:
            try:
                self.session = opener(self.settings)
            except DeliveryError as exc:
                self.open_error = exc
            except Exception as exc:  # a channel bug must not lose the notifications
                self.open_error = DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}")
        import threading

        self.workers = min(self.limit, len(self.ready))
        for _ in range(self.workers):
            threading.Thread(target=self._work, name=f"deliver-{self.name}", daemon=True).start()

    def deadline(self, started: float) -> float:
        """When the run stops waiting for a send started at ``started`` (monotonic seconds)."""
        return started + self.settings.timeout + budget_seconds(GRACE_S, GRACE_S_ENV)

    def can_send(self) -> bool:
        return bool(self.ready) and self.outstanding < self.workers

    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            notice, message = job
            self.results.put((STARTED, self, notice, time.monotonic()))
            self.results.put((DONE, self, notice, self._attempt(message)))

    def _attempt(self, message: Message) -> DeliveryError | None:
        """One send; the error, or None when the channel accepted it."""
        if self.open_error is not None:
            return self.open_error
        try:
            if self.session is not None:
                self.session.send(message)
            else:
                self.module.send(self.settings, message)
            return None
        except DeliveryError as exc:
            return exc
        except Exception as exc:  # a channel bug must not lose the notification
            return DeliveryError(f"{type(exc).__name__}: {exc}")

    def stop(self) -> None:
        for _ in range(self.workers):
            self.jobs.put(None)
        if self.session is not None and not self.abandoned:  # a hung send may still be using it
            try:
                self.session.close()
            except Exception:
                pass

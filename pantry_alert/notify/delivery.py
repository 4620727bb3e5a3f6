"""Delivery: send the notifications the outbox says are due, and hand each outcome back.

Notifications are rows of the outbox (``store.outbox``), written ``pending``
in the same transaction as the alert changes that call for them.
``deliver`` sends the ones that are due and records every outcome as soon as
it is known, several per transaction.

- Each channel has a lane (``notify.lanes``): a small pool of worker threads
  sharing one session, at most ``max_parallel`` sends in flight.  Channels
  send concurrently: one channel failing or hanging never stops another.
- One alert's notices to one channel go in the order they were recorded,
  and the next one goes only once the outcome of the one before it is
  committed, so a killed run repeats only sends whose outcome was not yet
  recorded.  A notice waits behind an earlier one of the same alert and
  channel that is still being retried, so a receiver never gets ``resolved``
  before the ``firing`` it closes, and nothing is dropped.  When several
  reminders (or a reminder and a later escalation) of one alert wait for the
  same channel, only the newest goes: the older ones are ``skipped`` as
  superseded.
- Each dispatch round marks the notices it hands to the workers (one write,
  committed before any of them is sent, counting the attempt); the mark stays
  until an answer is recorded.  A marked notice that is settled without a send
  (superseded, silenced) had its earlier send cut off (the run was killed, or
  the answer came too late), so it may have arrived: it is recorded as
  ``unknown``, never as ``skipped``.
- A failed send is retried in later runs with backoff (1 min doubling to 1 h,
  or the peer's Retry-After when longer) for 24 h, then marked ``failed`` for
  good; a send that cannot succeed on retry (``DeliveryError.retryable``
  false) fails at once (``notify.retry`` decides).  Only the failed channel is
  retried.
- A send that does not come back within its channel's timeout (plus a short
  grace) is recorded as failed; only that notice, the ones behind it wait.
- A run starts no new send after ``state.delivery_budget`` (default 60 s);
  what did not go stays pending, in order, for the next run, and the report
  says how many.  So delivery holds the run lock for at most the budget plus
  the longest channel timeout plus the grace.
- Notices the policy gave a batch key (a storm in one run, or quiet hours
  that ended) go to their channel as one digest message; its outcome is
  recorded for each of them.  An alert's notices to a channel join the digest
  when any of them carries the key.  Deferred notices are due at the end of
  their quiet window.
- Notices waiting for a channel that is not configured in this run (an
  environment variable missing once) are left as they are, and counted,
  until they expire 24 h after they were recorded; then they fail for good.

The stages: ``notify.messages`` builds each message (and digest),
``notify.retry`` decides backoff and give-up, ``notify.lanes`` runs each
channel's workers, and this module keeps the run loop: which notices are
due, how they are grouped, when each may go, and what is recorded.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator
from itertools import islice

from ..errors import DeliveryError
from ..record import Record
from ..store.outbox import Notice, Outcome
from . import retry
from .lanes import GRACE_S, GRACE_S_ENV, STARTED, Lane
from .messages import make_digest, make_message
from .registry import capabilities

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    import queue
    from typing import Any

    from .base import Message

COALESCED = "superseded by a later reminder of the same alert to this channel"
UNKNOWN = (
    "outcome unknown: it may have arrived (handed to the channel, but the run was stopped or the answer came "
    "too late); not sent again: {reason}"
)
SILENCED = "the rule is silenced: not notified"


def _resolved_passes(config, alert: dict, group: list[Notice]) -> bool:
    """Resolved notices of a silenced alert go when ``notify_resolved_when_silenced`` says so
    (the rule's own setting wins over the global one)."""
    if any(notice.kind != "resolved" for notice in group):
        return False
    rule = config.rule(alert.get("ruleId"))
    own = getattr(rule, "notify_resolved_when_silenced", None)
    return bool(getattr(config, "notify_resolved_when_silenced", False) if own is None else own)


ALERT_CACHE = 256  # alert JSON documents kept for the notices of other channels
ALERT_PREFETCH = 64  # alerts read in one query: the one needed and those of the next groups waiting
COMMIT_WINDOW_S = 0.05  # outcomes wait at most this long to be committed together
COMMIT_BATCH = 200  # ... or until this many wait

__all__ = ["GRACE_S", "GRACE_S_ENV", "Outcome", "Report", "deliver"]  # GRACE_S*: notify.lanes's, named here too


class Report(Record):
    """What a delivery run sent, failed, skipped (or settled as outcome unknown) and left waiting."""

    sent: int
    failed: int
    skipped: int
    unknown: int  # settled without a send after an earlier send of theirs got no answer
    failures: list[Outcome]
    waiting: dict[str, int]  # channel not configured -> notices left waiting
    left: int  # due notices not started because the delivery budget was spent
    budget_s: float
    _fields = ("sent", "failed", "skipped", "unknown", "failures", "waiting", "left", "budget_s")
    _shown = _fields

    def __init__(
        self,
        sent: int = 0,
        failed: int = 0,
        skipped: int = 0,
        unknown: int = 0,
        failures: list[Outcome] | None = None,
        waiting: dict[str, int] | None = None,
        left: int = 0,
        budget_s: float = 0.0,
    ) -> None:
        self.sent = sent
        self.failed = failed
        self.skipped = skipped
        self.unknown = unknown
        self.failures = [] if failures is None else failures
        self.waiting = {} if waiting is None else waiting
        self.left = left
        self.budget_s = budget_s


class _Digest(list):
    """The notices of one channel that go as one digest message (a group of its own)."""

    def __init__(self, batch: str):
        super().__init__()
        self.batch = batch


def _coalesce(outbox, notices: list[Notice], report: Report) -> list[Notice]:
    """Skip a reminder when a later reminder or escalation of the same alert waits for the same channel."""
    later: set[tuple[str, str]] = set()
    keep, skips = [], []
    for notice in reversed(notices):
        key = (notice.alert_id, notice.channel)
        if notice.kind == "reminder" and key in later:
            skips.append((notice, COALESCED))
            continue
        if notice.kind in ("reminder", "escalated"):
            later.add(key)
        keep.append(notice)
    _skip(outbox, skips, report)
    return keep[::-1]


def _skip(outbox, skips: list[tuple[Notice, str]], report: Report) -> None:
    """Settle notices that will not be sent: ``skipped``, or ``unknown`` when an earlier send
    of theirs was handed to the channel and no answer was recorded (it may have arrived)."""
    never = [(n, reason) for n, reason in skips if n.handed_at is None]
    maybe = [(n, UNKNOWN.format(reason=reason)) for n, reason in skips if n.handed_at is not None]
    outbox.skip(never)
    outbox.skip(maybe, status="unknown")
    report.skipped += len(never)
    report.unknown += len(maybe)


def deliver(store, config, channels: dict[str, Any], now: int) -> Report:
    """Send every due notification; ``channels`` maps configured names to settings."""
    from . import channel_module

    report = Report(budget_s=config.state.delivery_budget_ms / 1000)
    outbox = store.outbox
    notices = outbox.due(now)
    if not notices:
        return report
    from queue import SimpleQueue  # here, as threading: a run with nothing due starts no workers

    notices = _coalesce(outbox, notices, report)
    secrets: list[str | None] = [s for settings in channels.values() for s in settings.secrets()]
    results: queue.SimpleQueue = SimpleQueue()
    lanes: dict[str, Lane] = {}
    groups: dict[tuple[str, str], list[Notice]] = {}
    expired: list[Outcome] = []
    # An alert's notices to a channel join the channel's digest when any of them carries a batch key.
    digest_of = {(n.alert_id, n.channel): n.batch for n in notices if n.batch}
    for notice in notices:
        if notice.channel not in channels:  # configured when it was recorded, not in this run
            if retry.expired(notice, now):
                error = f"channel '{notice.channel}' was not configured until the notification expired"
                expired.append(Outcome(notice, error, None, attempted=False))
            else:
                report.waiting[notice.channel] = report.waiting.get(notice.channel, 0) + 1
            continue
        batch = digest_of.get((notice.alert_id, notice.channel))
        key = (notice.alert_id, notice.channel) if batch is None else ("digest " + batch, notice.channel)
        group = groups.get(key)
        if group is None:
            lane = lanes.get(notice.channel)
            if lane is None:
                lane = lanes[notice.channel] = Lane(
                    notice.channel, channel_module(notice.channel), channels[notice.channel], results
                )
            group = groups[key] = [] if batch is None else _Digest(batch)
            lane.ready.append(group)
        group.append(notice)
    del notices, groups
    outbox.record(expired, now)
    for outcome in expired:
        _count(report, outcome)
    if lanes:
        _Run(store, config, list(lanes.values()), results, now, secrets, report).run()
    return report


class _Run:
    """The loop that feeds the lanes and records what comes back (the calling thread only:
    the database is never touched from a worker).

    Outcomes are committed in batches: when the oldest one waiting is ``COMMIT_WINDOW_S``
    old, when ``COMMIT_BATCH`` wait, or when no send is in flight.  A group's next notice
    is handed out only after its predecessor's outcome is committed."""

    def __init__(self, store, config, lanes: list[Lane], results, now: int, secrets: list[str | None], report: Report):
        self.store, self.config, self.lanes, self.results = store, config, lanes, results
        self.now, self.secrets, self.report = now, secrets, report
        self.alerts: OrderedDict[str, dict | None] = OrderedDict()
        self.groups: dict[int, tuple[Lane, list[Notice]]] = {}  # notice id handed out -> its lane and group
        self.in_flight: dict[int, float] = {}  # notice id started -> when the run stops waiting for it
        self.abandoned: set[int] = set()  # sends given up on as hung whose worker has not come back
        self.pending: list[Outcome] = []  # outcomes known, not yet committed
        self.handing: list[tuple[Lane, list[Notice], Message]] = []  # this dispatch round's sends
        self.pending_since = 0.0

    def alert_json(self, alert_id: str) -> dict | None:
        """The alert as channels receive it, built once for all its notices.  A miss reads the
        alerts of the next groups waiting too, in the same query (a storm needs them next)."""
        if alert_id in self.alerts:
            self.alerts.move_to_end(alert_id)
            return self.alerts[alert_id]
        ids = [alert_id, *islice(self.upcoming(alert_id), ALERT_PREFETCH - 1)]
        found = self.store.get_alerts(ids)
        for one in reversed(ids):  # the one asked for ends up the most recently used
            alert = found.get(one)
            self.alerts[one] = alert.to_json() if alert else None
        doc = self.alerts[alert_id]
        while len(self.alerts) > ALERT_CACHE:
            self.alerts.popitem(last=False)
        return doc

    def upcoming(self, exclude: str) -> Iterator[str]:
        """The alerts of the groups waiting in the lanes, in order, that are not read yet."""
        seen = {exclude}
        for lane in self.lanes:
            for group in lane.ready:
                for notice in group if isinstance(group, _Digest) else group[:1]:
                    if notice.alert_id not in seen and notice.alert_id not in self.alerts:
                        seen.add(notice.alert_id)
                        yield notice.alert_id

    def dispatch(self) -> None:
        """Hand each lane as many first notices of its groups as it has idle workers."""
        vanished: list[tuple[Notice, str]] = []
        for lane in self.lanes:
            while lane.can_send():
                group = lane.ready.popleft()
                if isinstance(group, _Digest):
                    self._hand_digest(lane, group, vanished)
                else:
                    self._hand_first(lane, group, vanished)
        if vanished:
            _skip(self.store.outbox, vanished, self.report)
        if self.handing:  # marked in one write, committed before any of them goes
            jobs, self.handing = self.handing, []
            self.store.outbox.hand_out(
                (n for _lane, group, _message in jobs for n in (group if isinstance(group, _Digest) else group[:1])),
                self.now,
            )
            for lane, group, message in jobs:
                lane.jobs.put((group[0], message))

    def _hand_digest(self, lane: Lane, group: _Digest, vanished: list[tuple[Notice, str]]) -> None:
        """Send a digest of the group's notices whose alerts still exist and are not silenced."""
        members = []
        for n in group:
            alert = self.alert_json(n.alert_id)
            if alert is None:
                vanished.append((n, "the alert no longer exists"))
            elif alert.get("silenced"):
                vanished.append((n, SILENCED))
            else:
                members.append((n, alert))
        if not members:
            return
        kept = _Digest(group.batch)
        kept.extend(n for n, _alert in members)
        self._hand(lane, kept, make_digest(self.config, members, kept.batch, self.now))

    def _hand_first(self, lane: Lane, group: list[Notice], vanished: list[tuple[Notice, str]]) -> None:
        """Send the group's first notice (the rest wait for its outcome)."""
        notice = group[0]
        alert = self.alert_json(notice.alert_id)
        if alert is None:  # cannot happen while prune keeps undelivered alerts; never leave it pending
            vanished.extend((n, "the alert no longer exists") for n in group)
        elif (
            alert.get("silenced") and not _resolved_passes(self.config, alert, group) and not _closes(notice, lane.name)
        ):
            # a silence or window began after these were recorded (deferred, or waiting)
            vanished.extend((n, SILENCED) for n in group)
        else:
            self._hand(
                lane,
                group,
                make_message(self.config, alert, notice.kind, notice.idempotency_key, self.now, notice.step),
            )

    def _hand(self, lane: Lane, group: list[Notice], message: Message) -> None:
        """Take the group's send for this round (``dispatch`` marks the round's notices, then starts them)."""
        self.groups[group[0].id] = (lane, group)
        lane.outstanding += 1
        self.handing.append((lane, group, message))

    def live(self) -> int:
        """Sends handed to a worker whose result has not come back (hung ones aside)."""
        return sum(lane.outstanding for lane in self.lanes) - len(self.abandoned)

    def run(self) -> None:
        for lane in self.lanes:
            lane.start()
        stop_at = time.monotonic() + self.report.budget_s
        try:
            while True:
                spent = time.monotonic() >= stop_at
                if not spent:
                    self.dispatch()
                if self.live() == 0 and not self.pending and (spent or not any(ln.can_send() for ln in self.lanes)):
                    break
                self.step(stop_at)
        finally:
            for lane in self.lanes:
                lane.stop()
        self.report.left = sum(len(group) for lane in self.lanes for group in lane.ready)

    def step(self, stop_at: float) -> None:
        """Wait for results (or a deadline), note them, and commit when a batch is due."""
        for item in self._results(self._timeout(stop_at)):
            self._receive(*item)
        now_s = time.monotonic()
        self._give_up_on_hung(now_s)
        if self.pending and (
            self.live() == 0 or now_s - self.pending_since >= COMMIT_WINDOW_S or len(self.pending) >= COMMIT_BATCH
        ):
            self.flush()

    def _timeout(self, stop_at: float) -> float:
        """How long to wait for a result: until the next send deadline, the budget's end or a due commit."""
        now_s = time.monotonic()
        live = self.live()
        wake = [deadline for nid, deadline in self.in_flight.items() if nid not in self.abandoned]
        if len(self.in_flight) < live + len(self.abandoned):
            wake.append(now_s + 0.05)  # handed out but not started yet
        if any(lane.ready for lane in self.lanes):
            wake.append(stop_at)
        if self.pending:
            wake.append(self.pending_since + COMMIT_WINDOW_S if live else now_s)
        return min(max(min(wake, default=now_s + 1.0) - now_s, 0.0), 1.0)

    def _results(self, timeout: float) -> list[tuple[str, Lane, Notice, Any]]:
        """The workers' reports: waiting up to ``timeout`` for the first while sends are live."""
        from queue import Empty

        items = []
        if self.live():
            try:
                items.append(self.results.get(timeout=timeout) if timeout > 0 else self.results.get_nowait())
            except Empty:
                pass
        while True:
            try:
                items.append(self.results.get_nowait())
            except Empty:
                return items

    def _receive(self, tag: str, lane: Lane, notice: Notice, value: Any) -> None:
        """A send started (its deadline is set) or finished (its outcome is noted)."""
        if tag == STARTED:
            self.in_flight[notice.id] = lane.deadline(value)
            return
        lane.outstanding -= 1
        self.in_flight.pop(notice.id, None)
        if notice.id in self.abandoned:  # recorded as hung already; the late answer changes nothing
            self.abandoned.discard(notice.id)
            lane.abandoned -= 1
            return
        self.note(retry.outcome(notice, value, self.now, self.secrets))

    def _give_up_on_hung(self, now_s: float) -> None:
        """Record as failed every send past its deadline (its worker may still come back)."""
        for nid, deadline in self.in_flight.items():
            if deadline <= now_s and nid not in self.abandoned:
                lane, group = self.groups[nid]
                self.abandoned.add(nid)
                lane.abandoned += 1
                error = DeliveryError(f"{lane.name}: no answer within its timeout", answered=False)
                self.note(retry.outcome(group[0], error, self.now, self.secrets))

    def note(self, result: Outcome) -> None:
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append(result)

    def flush(self) -> None:
        """Commit the waiting outcomes in one transaction, then release what may go next."""
        outcomes, self.pending = self.pending, []
        recorded: list[Outcome] = []
        for outcome in outcomes:  # a digest's outcome is each of its notices' outcome
            group = self.groups[outcome.notice.id][1]
            if isinstance(group, _Digest):
                recorded.extend(
                    Outcome(notice, outcome.error, outcome.retry_at, outcome.attempted, outcome.answered)
                    for notice in group
                )
            else:
                recorded.append(outcome)
        self.store.outbox.record(recorded, self.now)  # durable before the next notice of the group goes
        for outcome in recorded:
            _count(self.report, outcome)
        for outcome in outcomes:
            lane, group = self.groups.pop(outcome.notice.id)
            if isinstance(group, _Digest):
                continue  # sent (or failed) as a whole
            group.pop(0)
            if outcome.ok and group:
                lane.ready.appendleft(group)


def _closes(notice: Notice, channel: str) -> bool:
    """An acknowledgement or resolution to a channel that follows them goes even under a silence:
    the incident it opened must not stay open."""
    return notice.kind in ("acknowledged", "resolved") and capabilities(channel).follows_ack_resolve


def _count(report: Report, outcome: Outcome) -> None:
    if outcome.ok:
        report.sent += 1
    else:
        report.failed += 1
        report.failures.append(outcome)

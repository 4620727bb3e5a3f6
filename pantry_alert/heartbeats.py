"""Heartbeats: the other cron jobs report by pings, and a missing or failed one raises an alert.

The first half is pure: a heartbeat's settings, what the store remembers of
its pings (a ``PingRecord``) and ``now`` in; its ``Status`` out (new, up,
running, late or failed, and when the next ping is due).  ``alert_inputs``
turns the statuses into what the engine needs to treat each heartbeat as the
rule ``heartbeat_<name>``, so that alerts of heartbeats live exactly as the
alerts of rules do.

``statuses`` is the library call behind ``pantry-alert heartbeats`` and
``GET /api/heartbeats``.  Recording a ping is in ``pings`` (kept light for
the jobs' cron lines).
"""

from __future__ import annotations

from .record import FrozenRecord, Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Rule
    from .workspace import Workspace

STATES = ("new", "up", "running", "late", "failed")


class Heartbeat(FrozenRecord):
    """One ``heartbeats:`` entry of rules.yaml.  Exactly one of ``schedule`` (cron, in ``timezone``)
    and ``every_ms`` is set.  ``rule`` is the alert rule ``heartbeat_<name>`` (type ``heartbeat``)."""

    name: str
    rule: Rule
    schedule: str | None
    every_ms: int | None
    timezone: str
    grace_ms: int
    max_runtime_ms: int | None
    alert_if_never: bool
    _fields = ("name", "rule", "schedule", "every_ms", "timezone", "grace_ms", "max_runtime_ms", "alert_if_never")
    _shown = _fields

    def __init__(
        self,
        name: str,
        rule: Rule,
        schedule: str | None = None,
        every_ms: int | None = None,
        timezone: str = "UTC",
        grace_ms: int = 10 * 60_000,
        max_runtime_ms: int | None = None,
        alert_if_never: bool = False,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "schedule", schedule)
        object.__setattr__(self, "every_ms", every_ms)
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "grace_ms", grace_ms)
        object.__setattr__(self, "max_runtime_ms", max_runtime_ms)
        object.__setattr__(self, "alert_if_never", alert_if_never)

    @property
    def rule_id(self) -> str:
        return self.rule.id


class PingRecord(Record):
    """What the store keeps of a heartbeat's pings (its last ones of each kind), and when a
    ``check`` first saw the heartbeat.  Times are epoch ms."""

    name: str
    first_seen_at: int | None  # the first check that saw it in rules.yaml
    first_ping_at: int | None
    last_ping_at: int | None
    last_ping_kind: str | None
    last_success_at: int | None
    started_at: int | None  # a start not followed by an end yet
    last_end_kind: str | None  # success | fail: how the last run ended
    last_exit_code: int | None
    last_output: str | None
    _fields = (
        "name",
        "first_seen_at",
        "first_ping_at",
        "last_ping_at",
        "last_ping_kind",
        "last_success_at",
        "started_at",
        "last_end_kind",
        "last_exit_code",
        "last_output",
    )
    _shown = _fields

    def __init__(
        self,
        name: str,
        first_seen_at: int | None = None,
        first_ping_at: int | None = None,
        last_ping_at: int | None = None,
        last_ping_kind: str | None = None,
        last_success_at: int | None = None,
        started_at: int | None = None,
        last_end_kind: str | None = None,
        last_exit_code: int | None = None,
        last_output: str | None = None,
    ) -> None:
        self.name = name
        self.first_seen_at = first_seen_at
        self.first_ping_at = first_ping_at
        self.last_ping_at = last_ping_at
        self.last_ping_kind = last_ping_kind
        self.last_success_at = last_success_at
        self.started_at = started_at
        self.last_end_kind = last_end_kind
        self.last_exit_code = last_exit_code
        self.last_output = last_output


class Status(FrozenRecord):
    """A heartbeat's state at ``now``.  ``expected_at`` is when the ping that is waited for was (or
    is) due, without grace; for a late heartbeat, when the missed ping was due."""

    name: str
    state: str
    last_ping_at: int | None
    expected_at: int | None
    last_exit_code: int | None
    output: str | None
    _fields = ("name", "state", "last_ping_at", "expected_at", "last_exit_code", "output")
    _shown = _fields

    def __init__(
        self,
        name: str,
        state: str,
        last_ping_at: int | None,
        expected_at: int | None,
        last_exit_code: int | None = None,
        output: str | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "last_ping_at", last_ping_at)
        object.__setattr__(self, "expected_at", expected_at)
        object.__setattr__(self, "last_exit_code", last_exit_code)
        object.__setattr__(self, "output", output)

    @property
    def alerting(self) -> bool:
        return self.state in ("late", "failed")

    def to_json(self) -> dict[str, Any]:
        """``heartbeats --json`` and ``GET /api/heartbeats``."""
        return {
            "name": self.name,
            "state": self.state,
            "lastPingAt": self.last_ping_at,
            "nextExpectedAt": self.expected_at,
            "lastExitCode": self.last_exit_code,
        }

    def alert_values(self) -> dict[str, Any]:
        """The alert's ``metadata.metrics``: the last ping and when a ping was due; the exit code
        and output of a failure."""
        values: dict[str, Any] = {"lastPingAt": self.last_ping_at, "expectedAt": self.expected_at}
        if self.state == "failed":
            values["exitCode"] = self.last_exit_code
            values["output"] = self.output
        return values


# ----------------------------------------------------------------- schedules


def next_slot(expression: str, timezone: str, after_ms: int, *, inclusive: bool = False) -> int | None:
    """The first time of the cron ``expression`` (in ``timezone``) after ``after_ms`` (or at it,
    with ``inclusive``), in epoch ms; None when it never comes (within cronsim's 50 years).

    cronsim evaluates wall-clock times the way Debian's cron does across DST changes: a time
    that a spring-forward night skips runs right after the gap, and a time that a fall-back
    night repeats runs once."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cronsim import CronSim

    zone = ZoneInfo(timezone)
    # CronSim yields times strictly after its start, which it truncates to the second; slots fall
    # on whole seconds, so "at or after" is "after the second before, rounded up".
    start = -(-after_ms // 1000) * 1000 - 1000 if inclusive else after_ms
    try:
        slot = next(CronSim(expression, datetime.fromtimestamp(start / 1000, zone)))
    except StopIteration:
        return None
    return int(slot.timestamp()) * 1000


def check_schedule(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron schedule, or None when it is one."""
    from datetime import datetime

    from cronsim import CronSim, CronSimError

    if not isinstance(expression, str) or len(expression.split()) != 5:
        return "must be a cron schedule of five fields (minute hour day-of-month month day-of-week), e.g. '30 2 * * *'"
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        return f"{expression!r} is not a valid cron schedule: {exc}"
    return None


def _due_after_success(hb: Heartbeat, success_at: int) -> int | None:
    """When the next ping is due after a success ping at ``success_at``.

    ``every`` counts from the success.  A cron schedule expects a ping at each slot, and a
    success up to ``grace`` before a slot counts for it: the next slot that this success
    does not cover is the first one later than ``success_at + grace``."""
    if hb.every_ms is not None:
        return success_at + hb.every_ms
    assert hb.schedule is not None
    return next_slot(hb.schedule, hb.timezone, success_at + hb.grace_ms)


def _first_due(hb: Heartbeat, anchor: int) -> int | None:
    """When the first ping is due for a heartbeat watched since ``anchor``: ``every`` after it,
    or its first slot."""
    if hb.every_ms is not None:
        return anchor + hb.every_ms
    assert hb.schedule is not None
    return next_slot(hb.schedule, hb.timezone, anchor, inclusive=True)


def status(hb: Heartbeat, record: PingRecord | None, now: int) -> Status:
    """The heartbeat's state at ``now``: failed wins over late, late over running."""
    if record is None or record.last_ping_at is None:
        anchor = record.first_seen_at if record is not None else None
        if hb.alert_if_never and anchor is not None:
            due = _first_due(hb, anchor)
            if due is not None and now > due + hb.grace_ms:
                return Status(hb.name, "late", None, due)
            return Status(hb.name, "new", None, due)
        due = next_slot(hb.schedule, hb.timezone, now, inclusive=True) if hb.schedule else None
        return Status(hb.name, "new", None, due)
    if record.last_success_at is not None:
        due = _due_after_success(hb, record.last_success_at)
    else:  # pinged, but never a success: count from when it was first watched
        anchor = min(t for t in (record.first_seen_at, record.first_ping_at) if t is not None)
        due = _first_due(hb, anchor)
    last = record.last_ping_at
    if record.last_end_kind == "fail":
        return Status(hb.name, "failed", last, due, record.last_exit_code, record.last_output)
    overdue = []
    if due is not None and now > due + hb.grace_ms:
        overdue.append(due)
    if record.started_at is not None and hb.max_runtime_ms is not None:
        end_due = record.started_at + hb.max_runtime_ms
        if now > end_due:
            overdue.append(end_due)
    if overdue:
        return Status(hb.name, "late", last, min(overdue), record.last_exit_code)
    return Status(hb.name, "running" if record.started_at is not None else "up", last, due, record.last_exit_code)


def alert_inputs(heartbeats: list[Heartbeat], records: dict[str, dict], now: int) -> list[tuple]:
    """``(rule, holds, values)`` per heartbeat, for ``engine.evaluate``: the rule
    ``heartbeat_<name>`` holds while the heartbeat is late or failed.  ``records`` maps a
    name to its stored summary (``store.pings.records``)."""
    out = []
    for hb in heartbeats:
        current = status(hb, _record(records, hb.name), now)
        out.append((hb.rule, current.alerting, current.alert_values()))
    return out


# ----------------------------------------------------------------- library calls


def statuses(ws: Workspace, *, now: int | None = None) -> list[Status]:
    """Every heartbeat of rules.yaml with its state at ``now``, in rules.yaml's order."""
    from .store.pings import records

    config = ws.config()
    now = ws.now() if now is None else now
    with ws.store() as store:
        found = records(store)
    return [status(hb, _record(found, hb.name), now) for hb in config.heartbeats]


def _record(records: dict[str, dict], name: str) -> PingRecord | None:
    summary = records.get(name)
    return PingRecord(**summary) if summary is not None else None

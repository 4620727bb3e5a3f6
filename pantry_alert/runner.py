"""One ``check`` run, as a library call: read, evaluate, commit, deliver.

The CLI only renders what ``run_check`` returns.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from . import history
from . import metrics as metrics_mod
from .config import SEVERITIES, Config
from .engine import Plan
from .errors import MetricsError
from .model import SEVERITY_ORDER
from .notify import configured_channels
from .notify.delivery import Report, deliver
from .notify.registry import channel_facts
from .planning import plan_step
from .record import Record
from .store import open_store, run_lock
from .store.db import inspect

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any


class CheckResult(Record):
    """The outcome of one check: the plan, the delivery report, a source error."""

    plan: Plan
    report: Report
    source_error: str | None
    dry_run: bool
    # ok | attention (a rule unevaluable, a notification failed) | source_failure | fail_on
    outcome: str
    alerts: dict[str, Any]  # id -> Alert touched by this run
    fail_on_hit: list[str]
    sync: list[Any]  # one outcome per state-synchronising channel
    _fields = ("plan", "report", "source_error", "dry_run", "outcome", "alerts", "fail_on_hit", "sync")
    _shown = _fields

    def __init__(
        self,
        plan: Plan,
        report: Report | None = None,
        source_error: str | None = None,
        dry_run: bool = False,
        outcome: str = "ok",
        alerts: dict[str, Any] | None = None,
        fail_on_hit: list[str] | None = None,
        sync: list[Any] | None = None,
    ) -> None:
        self.plan = plan
        self.report = Report() if report is None else report
        self.source_error = source_error
        self.dry_run = dry_run
        self.outcome = outcome
        self.alerts = {} if alerts is None else alerts
        self.fail_on_hit = [] if fail_on_hit is None else fail_on_hit
        self.sync = [] if sync is None else sync

    @property
    def sync_failed(self) -> int:
        return sum(1 for outcome in self.sync if not outcome.ok)

    def summary(self) -> dict[str, Any]:
        plan = self.plan
        skipped = sum(1 for i in plan.intents if i.status == "skipped") + self.report.skipped
        out: dict[str, Any] = {
            "fired": list(plan.fired),
            "reminded": list(plan.reminded),
            "escalated": list(plan.escalated),
            "resolved": list(plan.resolved),
            "errors": list(plan.errors) + list(plan.warnings),
            "notifications": {
                "sent": self.report.sent + sum(1 for o in self.sync if o.ok and o.peers),
                "failed": self.report.failed + self.sync_failed,
                "deferred": sum(1 for i in plan.intents if i.status == "deferred"),
                "skipped": skipped,
            },
        }
        if self.sync:
            out["sync"] = [outcome.to_json() for outcome in self.sync]
        if self.report.unknown:  # settled without a send, though an earlier send of theirs may have arrived
            out["notifications"]["unknown"] = self.report.unknown
        if self.report.left:  # the delivery budget ran out: these wait for the next run
            out["notifications"]["leftPending"] = self.report.left
        if self.source_error:
            out["errors"] = out["errors"] + [{"rule": "metrics_source_unavailable", "error": self.source_error}]
        if self.dry_run:
            out["dryRun"] = True
            out["wouldNotify"] = sum(1 for i in plan.intents if i.status == "pending")
        return out


def run_check(
    config: Config,
    db_path: Path,
    now: int,
    *,
    metrics_file: str | None = None,
    metrics_url: str | None = None,
    dry_run: bool = False,
    fail_on: str | None = None,
    env: Mapping[str, str] | None = None,
    console_stream=None,
    on_planned=None,
    exit_code: Callable[[CheckResult], int] | None = None,
) -> CheckResult:
    """One run.  ``on_planned(plan, alerts_by_id)`` is called once the plan is
    committed, before any send.  ``exit_code(result)``, when given, is what
    the run log records as the run's exit code (the caller's mapping)."""
    env = os.environ if env is None else env
    channels = configured_channels(
        config, env, {"console": {"stream": console_stream}}
    )  # config errors: before any write
    configured = frozenset(channels)
    document, source_error = None, None
    try:
        if config.rules or metrics_file or metrics_url or _has_source(config):
            document = metrics_mod.read(
                file=metrics_file, url=metrics_url, source=config.source, base_dir=config.path.parent, now=now
            )
        else:
            document = {}  # heartbeats only: there are no metrics to read
    except MetricsError as exc:
        source_error = exc.message

    if dry_run:
        with open_store(db_path, readonly=True, timeout_ms=config.state.lock_timeout_ms) as store:
            plan, stored = _plan(
                store, config, document, configured, now, source_error, _heartbeats(store, config, now)
            )
            result = CheckResult(plan=plan, source_error=source_error, dry_run=True)
            active = list(stored.values())
            if on_planned:
                on_planned(plan, _touched(plan))
    else:
        inspect(db_path)  # refuse a foreign, corrupt or newer file before making a lock file beside it
        with run_lock(db_path, config.state.lock_timeout_ms):
            with open_store(db_path, timeout_ms=config.state.lock_timeout_ms) as store:
                with store.transaction():
                    beats = _heartbeats(store, config, now)
                    plan, _ = _plan(store, config, document, configured, now, source_error, beats)
                    store.apply(plan, now)
                    history.record(store, config, document, now, extra=_heartbeat_facts(beats))
                    if config.heartbeats:
                        from .store.pings import mark_seen

                        mark_seen(store, [hb.name for hb in config.heartbeats], now)
                result = CheckResult(plan=plan, source_error=source_error)
                if on_planned:
                    on_planned(plan, _touched(plan))
                result.report = deliver(store, config, channels, now)
                result.sync = _sync(store, config, channels, now)
                active = list(store.active_alerts().values()) if fail_on else []  # read back for --fail-on only
                _settle(result, active, fail_on)
                with store.transaction():
                    store.log_run(now, now, exit_code(result) if exit_code else None, result.summary())
    result.alerts = _touched(plan)
    if dry_run:
        _settle(result, _merge(active, plan), fail_on)
    return result


def _has_source(config: Config) -> bool:
    return bool(config.source.url or config.source.file or config.source.prometheus)


def _sync(store, config: Config, channels: dict[str, Any], now: int) -> list[Any]:
    """Hand the run's alert state to each configured state-synchronising channel (Alertmanager)."""
    from .notify import channel_module
    from .notify.registry import sync_channels

    return [
        channel_module(name).sync(store, config, channels[name], now) for name in sync_channels() if name in channels
    ]


def _plan(store, config: Config, document, configured: frozenset[str], now: int, source_error: str | None, beats: list):
    """The step planned on the stored state: ``(plan, stored alerts by rule id)``."""
    from .store.policy import plan_facts

    stored = store.active_alerts()
    plan = plan_step(
        config,
        document,
        now=now,
        alerts=stored,
        **plan_facts(store, config, now),
        configured=configured,
        channels=channel_facts(),
        taken_ids=store.alert_ids_at(now),
        source_error=source_error,
        history=history.for_run(store, config.rules, now) if document is not None else None,
        heartbeats=beats,
    )
    return plan, stored


def _heartbeats(store, config: Config, now: int) -> list:
    """Each heartbeat's alert rule, whether it holds (late or failed) and its values."""
    if not config.heartbeats:
        return []
    from .heartbeats import alert_inputs
    from .store.pings import records

    return alert_inputs(config.heartbeats, records(store), now)


def _heartbeat_facts(beats: list) -> dict[str, float]:
    """The heartbeats' numbers kept in the metric history, as ``heartbeats.<name>.<fact>``
    (``lastPingAt``, ``expectedAt`` and, after a failure, ``exitCode``)."""
    facts: dict[str, float] = {}
    for rule, _holds, values in beats:
        name = rule.id.removeprefix("heartbeat_")
        for key in ("lastPingAt", "expectedAt", "exitCode"):
            value = values.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                facts[f"heartbeats.{name}.{key}"] = value
    return facts


def _touched(plan: Plan) -> dict[str, Any]:
    return {alert.id: alert for alert in plan.new_alerts + plan.updated_alerts}


def _merge(active, plan: Plan):
    """Active alerts as they would be after a dry run's plan."""
    by_id = {a.id: a for a in active}
    for alert in plan.new_alerts + plan.updated_alerts:
        by_id[alert.id] = alert
    return [a for a in by_id.values() if not a.resolved]


def _settle(result: CheckResult, active, fail_on: str | None) -> None:
    """Decide the run's outcome (the command line turns it into an exit code)."""
    if fail_on:
        floor = SEVERITY_ORDER[fail_on]
        result.fail_on_hit = [a.id for a in active if SEVERITY_ORDER[a.severity] >= floor]
    if result.source_error:
        result.outcome = "source_failure"
    elif result.fail_on_hit:
        result.outcome = "fail_on"
    elif result.plan.errors or result.plan.warnings or result.report.failed or result.sync_failed:
        result.outcome = "attention"
    else:
        result.outcome = "ok"


__all__ = ["run_check", "CheckResult", "SEVERITIES"]

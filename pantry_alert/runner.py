"""One ``check`` run, as a library call: read, evaluate, commit, deliver.

The CLI only renders what ``run_check`` returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import metrics as metrics_mod
from .config import SEVERITIES, Config
from .engine import Context, Plan, evaluate
from .errors import MetricsError
from .model import SEVERITY_ORDER
from .notify import configured_channels
from .notify.delivery import Report, deliver
from .store import open_store, run_lock
from .store.db import inspect


@dataclass
class CheckResult:
    plan: Plan
    report: Report = field(default_factory=Report)
    source_error: str | None = None
    dry_run: bool = False
    exit_code: int = 0
    alerts: dict[str, Any] = field(default_factory=dict)  # id -> Alert touched by this run
    fail_on_hit: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        plan = self.plan
        skipped = sum(1 for i in plan.intents if i.status == "skipped") + self.report.skipped
        out = {
            "fired": list(plan.fired),
            "reminded": list(plan.reminded),
            "escalated": list(plan.escalated),
            "resolved": list(plan.resolved),
            "errors": list(plan.errors) + list(plan.warnings),
            "notifications": {
                "sent": self.report.sent,
                "failed": self.report.failed,
                "deferred": 0,
                "skipped": skipped,
            },
        }
        if self.report.left:  # the delivery budget ran out: these wait for the next run
            out["notifications"]["leftPending"] = self.report.left
        if self.source_error:
            out["errors"] = out["errors"] + [{"rule": "metrics_source_unavailable", "error": self.source_error}]
        if self.dry_run:
            out["dryRun"] = True
            out["wouldNotify"] = sum(1 for i in plan.intents if i.status == "pending")
        return out


def resolve_db_path(config: Config, db_option: str | None, env: Mapping[str, str]) -> Path:
    if db_option:
        return Path(db_option)
    if config.state.path:
        path = Path(os.path.expanduser(config.state.path))
        return path if path.is_absolute() else config.path.parent / path
    from .store import default_path

    return default_path(env)


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
) -> CheckResult:
    """``on_planned(plan, alerts_by_id)`` is called once the plan is committed, before any send."""
    env = os.environ if env is None else env
    channels = configured_channels(config, env, stream=console_stream)  # config errors: before any write
    ctx = Context(
        now=now, escalation=config.escalation, configured=frozenset(channels), alert_after=config.source.alert_after
    )
    document, source_error = None, None
    try:
        document = metrics_mod.read(
            file=metrics_file, url=metrics_url, source=config.source, base_dir=config.path.parent
        )
    except MetricsError as exc:
        source_error = exc.message

    if dry_run:
        with open_store(db_path, readonly=True, timeout_ms=config.state.lock_timeout_ms) as store:
            stored = store.active_alerts()
            plan = evaluate(
                config.rules,
                document,
                alerts=stored,
                rule_states=store.rule_states(),
                ctx=ctx,
                source_error=source_error,
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
                    plan = evaluate(
                        config.rules,
                        document,
                        alerts=store.active_alerts(),
                        rule_states=store.rule_states(),
                        ctx=ctx,
                        source_error=source_error,
                    )
                    store.apply(plan, now)
                result = CheckResult(plan=plan, source_error=source_error)
                if on_planned:
                    on_planned(plan, _touched(plan))
                result.report = deliver(store, config, channels, now)
                active = list(store.active_alerts().values())
                result.exit_code = _exit_code(result, active, fail_on)
                with store.transaction():
                    store.log_run(now, now, result.exit_code, result.summary())
    result.alerts = _touched(plan)
    if dry_run:
        result.exit_code = _exit_code(result, _merge(active, plan), fail_on)
    return result


def _touched(plan: Plan) -> dict[str, Any]:
    return {alert.id: alert for alert in plan.new_alerts + plan.updated_alerts}


def _merge(active, plan: Plan):
    """Active alerts as they would be after a dry run's plan."""
    by_id = {a.id: a for a in active}
    for alert in plan.new_alerts + plan.updated_alerts:
        by_id[alert.id] = alert
    return [a for a in by_id.values() if not a.resolved]


def _exit_code(result: CheckResult, active, fail_on: str | None) -> int:
    if result.source_error:
        return 3
    if fail_on:
        floor = SEVERITY_ORDER[fail_on]
        result.fail_on_hit = [a.id for a in active if SEVERITY_ORDER[a.severity] >= floor]
        if result.fail_on_hit:
            return 5
    if result.plan.errors or result.plan.warnings or result.report.failed:
        return 1
    return 0


__all__ = ["run_check", "CheckResult", "resolve_db_path", "SEVERITIES"]

"""The noise report (``report``): which rules page people, how often, at what hours, and how fast
those alerts are acknowledged and resolved.

Over the alerts fired in the window, per rule:

- ``alerts`` and ``notifications`` (the notices sent for them);
- ``afterHours``: the notices sent in the quiet hours (``quiet_hours``), or
  from 22:00 to 07:00 in the config's ``timezone`` without them;
- ``timeToAcknowledge`` and ``timeToResolve`` (ms from firing; mean and
  median, null without any);
- ``neverAcknowledged``: alerts that no-one acknowledged (resolved or not);
- ``transitions``: fire and resolve changes, and ``flapping`` when
  ``FLAP_TRANSITIONS`` of them fall within ``FLAP_WINDOW_MS``;
- ``resolvedWithin5m``: alerts that resolved within 5 minutes of firing, and
  ``longerFor``, the suggestion of a ``for: 5m`` for such a rule, with the
  ``backtest`` of that change over the window's metric history (null where
  the history cannot answer).
"""

from __future__ import annotations

import statistics

from .review import md, render_template
from .timeutil import format_duration, format_time

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Config
    from .store import Store

QUICK_MS = 5 * 60_000  # an alert that resolves this soon is a candidate for a longer `for`
SUGGESTED_FOR = "5m"
AFTER_HOURS = (22 * 60, 7 * 60)  # minutes after midnight, without quiet hours
FLAP_TRANSITIONS, FLAP_WINDOW_MS = 4, 3_600_000


def _spread(values: list[int]) -> dict[str, int | None]:
    if not values:
        return {"mean": None, "median": None}
    return {"mean": round(statistics.fmean(values)), "median": round(statistics.median(values))}


def _after_hours(config: Config):
    """A test: is this moment (epoch ms) in the quiet hours, or 22:00 to 07:00 without them?"""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    quiet = config.quiet_hours
    start, end = (quiet.start, quiet.end) if quiet else AFTER_HOURS
    zone_name = quiet.timezone if quiet else (config.timezone or "UTC")
    zone = ZoneInfo(zone_name)

    def test(ms: int) -> bool:
        local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
        minute = local.hour * 60 + local.minute
        return start <= minute < end if start < end else minute >= start or minute < end

    return test


def _flapping(moments: list[int]) -> bool:
    moments = sorted(moments)
    return any(
        moments[i + FLAP_TRANSITIONS - 1] - moments[i] <= FLAP_WINDOW_MS
        for i in range(len(moments) - FLAP_TRANSITIONS + 1)
    )


def backtest_for(store: Store, config: Config, rule_id: str, since: int, until: int) -> dict[str, Any] | None:
    """What a ``for`` of 5 minutes would have changed for the rule over the window, by replaying the
    metric history (``rules backtest``): ``{"alerts", "notifications"}`` it would have given beside
    ``{"actualAlerts", "actualNotifications"}``.  None when the history cannot answer (off, no run
    stored in the window, or a path the rule reads never recorded)."""
    import copy

    from .backtest import backtest

    rule = config.rule(rule_id)
    history = getattr(config, "history", None)
    if rule is None or (history is not None and not history.enabled):
        return None
    longer = copy.copy(rule)
    longer.for_ms = max(rule.for_ms, QUICK_MS)
    candidate = copy.copy(config)
    candidate.rules = [longer if r.id == rule_id else r for r in config.rules]
    result = backtest(store, candidate, now=until, since=since, rule_ids=[rule_id])
    (replay,) = result.rules
    if not result.runs or replay.not_recorded:
        return None
    return {
        "alerts": len(replay.would_fire),
        "notifications": sum(sum(e.notifications.values()) for e in replay.would_fire),
        "actualAlerts": len(replay.actual),
        "actualNotifications": sum(sum(e.notifications.values()) for e in replay.actual),
    }


def build(store: Store, config: Config, *, since: int, until: int) -> dict[str, Any]:
    """The ``report --json`` object: ``{"since", "until", "rules": [...]}``, the noisiest rule first."""
    from .store.reviews import window_alerts, window_notifications

    per_rule: dict[str, dict[str, Any]] = {}

    def of(rule_id: str) -> dict[str, Any]:
        return per_rule.setdefault(
            rule_id,
            {
                "alerts": 0,
                "notifications": 0,
                "afterHours": 0,
                "tta": [],
                "ttr": [],
                "never": 0,
                "moments": [],
                "quick": 0,
            },
        )

    for _alert_id, rule_id, fired_at, resolved_at, acked_at in window_alerts(store, since, until):
        row = of(rule_id)
        row["alerts"] += 1
        row["moments"].append(fired_at)
        if acked_at is None:
            row["never"] += 1
        else:
            row["tta"].append(acked_at - fired_at)
        if resolved_at is not None:
            row["ttr"].append(resolved_at - fired_at)
            row["moments"].append(resolved_at)
            if resolved_at - fired_at <= QUICK_MS:
                row["quick"] += 1
    after_hours = _after_hours(config)
    for rule_id, sent_at in window_notifications(store, since, until):
        row = of(rule_id)
        row["notifications"] += 1
        row["afterHours"] += after_hours(sent_at)
    rules = []
    for rule_id, row in per_rule.items():
        rules.append(
            {
                "rule": rule_id,
                "alerts": row["alerts"],
                "notifications": row["notifications"],
                "afterHours": row["afterHours"],
                "timeToAcknowledge": _spread(row["tta"]),
                "timeToResolve": _spread(row["ttr"]),
                "neverAcknowledged": row["never"],
                "transitions": len(row["moments"]),
                "flapping": _flapping(row["moments"]),
                "resolvedWithin5m": row["quick"],
                "longerFor": (
                    {"for": SUGGESTED_FOR, "backtest": backtest_for(store, config, rule_id, since, until)}
                    if row["quick"]
                    else None
                ),
            }
        )
    rules.sort(key=lambda r: (-r["notifications"], -r["alerts"], r["rule"]))
    return {"since": since, "until": until, "rules": rules}


# ----------------------------------------------------------------- rendering


def _hours_text(config: Config) -> str:
    quiet = config.quiet_hours
    if quiet:
        return f"in the quiet hours ({quiet.start // 60:02d}:{quiet.start % 60:02d} to {quiet.end // 60:02d}:{quiet.end % 60:02d} {quiet.timezone})"
    return f"from 22:00 to 07:00 {config.timezone or 'UTC'}"


def _ms(value: int | None) -> str:
    return "-" if value is None else format_duration(value)


def _view(report: dict[str, Any], config: Config) -> dict[str, Any]:
    tz = config.timezone
    rows = []
    for r in report["rules"]:
        tta, ttr = r["timeToAcknowledge"], r["timeToResolve"]
        suggestion = ""
        if r["longerFor"]:
            backtest = r["longerFor"]["backtest"]
            suggestion = f"for: {r['longerFor']['for']}"
            if backtest is not None:
                suggestion += (
                    f" (backtest: {backtest['alerts']} alert(s), {backtest['notifications']} notice(s) "
                    f"instead of {backtest['actualAlerts']}, {backtest['actualNotifications']})"
                )
        rows.append(
            (
                r["rule"],
                str(r["alerts"]),
                str(r["notifications"]),
                str(r["afterHours"]),
                f"{_ms(tta['mean'])} / {_ms(tta['median'])}",
                f"{_ms(ttr['mean'])} / {_ms(ttr['median'])}",
                str(r["neverAcknowledged"]),
                f"{r['transitions']}{' (flapping)' if r['flapping'] else ''}",
                str(r["resolvedWithin5m"]),
                suggestion,
            )
        )
    return {
        "title": f"Noise report, {format_time(report['since'], tz)} to {format_time(report['until'], tz)}",
        "hours": _hours_text(config),
        "headers": (
            "Rule",
            "Alerts",
            "Notices",
            "After hours",
            "TTA mean / median",
            "TTR mean / median",
            "Never acknowledged",
            "Transitions",
            "Resolved within 5m",
            "Candidate",
        ),
        "rows": rows,
    }


NOTES = (
    "Over the alerts fired in the window. After hours: notices sent {hours}. "
    "TTA and TTR: time from firing to the first acknowledgement and to the resolution. "
    "Flapping: 4 transitions (fire or resolve) within an hour. "
    "Candidate: a rule whose alerts resolved within 5 minutes of firing, for a longer for, with what the "
    "metric history says that would have given."
)


def markdown(report: dict[str, Any], config: Config) -> str:
    v = _view(report, config)
    out = [f"# {md(v['title'])}", ""]
    if not v["rows"]:
        out.append("No alerts fired in this window.")
    else:
        out.append("| " + " | ".join(v["headers"]) + " |")
        out.append("|" + "---|" * len(v["headers"]))
        out += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in v["rows"]]
    out += ["", md(NOTES.format(hours=v["hours"]))]
    return "\n".join(out) + "\n"


def html(report: dict[str, Any], config: Config) -> str:
    v = _view(report, config)
    return render_template("report.html.j2", {**v, "notes": NOTES.format(hours=v["hours"])})

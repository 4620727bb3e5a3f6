"""The console's pages: active alerts, an alert, history, silences, heartbeats, statistics, rules.

Plain ``def`` handlers: Starlette runs them in its thread pool, so SQLite
never blocks the event loop.  Each reads through the same library and store
functions as the command line and the API.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC
from urllib.parse import urlencode

from ... import views
from ...config import SEVERITIES
from ...notes import list_notes
from ..common import HttpError, choice_param, int_param
from . import charts
from .render import html
from .session import view

MINUTE = 60_000
DAY = 86_400_000
HOUR = 3_600_000
PAGE_SIZE = 50
REFRESH_MS = 10_000  # how often the active alerts refresh themselves
CHART_DAYS = 14  # days in the alerts-per-day chart
STATS_WINDOWS = {"24h": DAY, "7d": 7 * DAY}
MESSAGES = {  # what the page says after an action (the query names one of these; nothing else is shown)
    "acknowledged": "Alert acknowledged.",
    "resolved": "Alert resolved.",
    "silenced": "Rule silenced.",
    "noted": "Note added.",
    "silence-created": "Silence created.",
    "silence-expired": "Silence expired.",
}


def _ws(request):
    return request.app.state.ctx.workspace()


def _message(request) -> str | None:
    return MESSAGES.get(request.query_params.get("done", ""))


def _active(request) -> list:
    with _ws(request).store() as store:
        return store.list_alerts(active=True)


@view()
def active(request, session):
    return html(
        request,
        "active.html",
        session=session,
        alerts=_active(request),
        refresh_ms=REFRESH_MS,
        message=_message(request),
    )


@view()
def active_rows(request, session):
    """The rows of the active alerts' table, for the page's refresh script."""
    return html(request, "_active_rows.html", session=session, alerts=_active(request))


@view()
def alert(request, session):
    from ...history import alert_series
    from ...timeutil import format_time

    ws = _ws(request)
    alert_id = request.path_params["alert_id"]
    config = ws.config()
    with ws.store() as store:
        detail = views.alert_detail(store, alert_id)
        a = detail.alert
        series = alert_series(store, a, config, ws.now())  # the values its rule reads, from the history
    fmt = functools.partial(format_time, tz=config.timezone)
    chart_list = [c for path, s in series if (c := charts.line_chart(s.ats, s.values, label=path, format_time=fmt))]
    rule = config.rule(a.rule_id)
    return html(
        request,
        "alert.html",
        session=session,
        alert=a,
        events=detail.events,
        notifications=detail.notifications,
        notes=list_notes(ws, alert_id),
        charts=chart_list,
        rule=rule,
        message=_message(request),
    )


def _date(value: str | None, name: str, tz: str | None) -> int | None:
    """A ``YYYY-MM-DD`` date (midnight in the config's zone) as epoch ms."""
    if not value:
        return None
    from datetime import date, datetime

    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise HttpError(400, f"'{name}' must be a date such as 2025-11-26, not {value[:40]!r}") from None
    zone = UTC
    if tz:
        from zoneinfo import ZoneInfo

        try:
            zone = ZoneInfo(tz)  # type: ignore[assignment]
        except (KeyError, ValueError):
            pass
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def _after_key(value: str | None) -> tuple[int, str] | None:
    if not value:
        return None
    stamp, _, alert_id = value.partition(":")
    try:
        return int(stamp), alert_id
    except ValueError:
        raise HttpError(400, "'after' is not a page key of this console") from None


@view()
def history(request, session):
    from ...store.browse import STATUSES, history_page

    ws = _ws(request)
    config = ws.config()
    q = request.query_params
    rule = q.get("rule") or None
    severity = choice_param(q.get("severity"), SEVERITIES, "severity")
    status = choice_param(q.get("status"), STATUSES, "status")
    since = _date(q.get("from"), "from", config.timezone)
    until_day = _date(q.get("to"), "to", config.timezone)
    until = None if until_day is None else until_day + DAY  # "to" includes that day
    limit = int_param(q.get("limit"), "limit", default=PAGE_SIZE, low=1, high=500)
    with ws.store() as store:
        alerts, next_key = history_page(
            store,
            rule=rule,
            severity=severity,
            status=status,
            since=since,
            until=until,
            after=_after_key(q.get("after")),
            limit=limit,
        )
    filters = {k: q.get(k) for k in ("rule", "severity", "status", "from", "to") if q.get(k)}
    next_url = None
    if next_key is not None:
        next_url = "/history?" + urlencode({**filters, "after": f"{next_key[0]}:{next_key[1]}"})
    return html(
        request,
        "history.html",
        session=session,
        alerts=alerts,
        filters=filters,
        rules=[r.id for r in config.rules],
        severities=SEVERITIES,
        statuses=STATUSES,
        next_url=next_url,
        first_url="/history?" + urlencode(filters) if q.get("after") else None,
    )


@view()
def silences(request, session):
    from ... import actions

    ws = _ws(request)
    holds = actions.list_holds(ws)
    return html(
        request,
        "silences.html",
        session=session,
        silences=[h for h in holds if h.get("kind") != "maintenance"],
        maintenance=[h for h in holds if h.get("kind") == "maintenance"],
        rules=[r.id for r in ws.config().rules],
        message=_message(request),
    )


@view()
def heartbeats(request, session):
    from ... import heartbeats as library

    found = [status.to_json() for status in library.statuses(_ws(request))]
    return html(request, "heartbeats.html", session=session, heartbeats=found)


def _offset(ms: int, tz: str | None) -> int:
    """The zone's offset from UTC at ``ms``, in ms (0 for no zone or an unknown one)."""
    from datetime import datetime

    if not tz:
        return 0
    from zoneinfo import ZoneInfo

    try:
        offset = datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).utcoffset()
    except (KeyError, ValueError):
        return 0
    return int(offset.total_seconds() * 1000) if offset else 0


PAST_DAYS_TTL = 600.0  # seconds: how long the alerts-per-day counts of days before today are reused
LONG_WINDOW_TTL = 300.0  # seconds: how long the statistics of a window longer than a day are reused


def _reuse(request, name: str, key: tuple, ttl: float, compute):
    """``compute()``, or its answer for the same ``key`` when it is younger than ``ttl`` seconds."""
    import time

    state = request.app.state
    found = getattr(state, name, None)
    if found is not None and found[0] == key and time.monotonic() - found[1] < ttl:
        return found[2]
    value = compute()
    setattr(state, name, (key, time.monotonic(), value))
    return value


def _past_days(request, first_day: int, last_day: int, offset: int) -> dict[int, int]:
    """Alerts per day for days before today, reused for ``PAST_DAYS_TTL``: new alerts land on today,
    so these change only when ``prune`` removes old ones (shown within ten minutes)."""
    from ...store import browse

    def count() -> dict[int, int]:
        with _ws(request).store() as store:
            return browse.alerts_per_day(store, first_day=first_day, last_day=last_day, offset_ms=offset)

    return _reuse(request, "console_past_days", (first_day, last_day, offset), PAST_DAYS_TTL, count)


@view()
def stats(request, session):
    from datetime import datetime

    from ...store import browse

    ws = _ws(request)
    config = ws.config()
    now = ws.now()
    window_name = request.query_params.get("window") or "24h"
    if window_name not in STATS_WINDOWS:
        raise HttpError(400, f"'window' must be one of {', '.join(STATS_WINDOWS)}, not {window_name[:20]!r}")
    window = STATS_WINDOWS[window_name]
    offset = _offset(now, config.timezone)  # days in the zone's offset of now
    today = (now + offset) // DAY

    def compute(ws) -> bytes:
        with ws.store() as store:
            rules = browse.rule_summary(store, since=now - window)
            today_count = browse.alerts_per_day(store, first_day=today, last_day=today, offset_ms=offset)
        return json.dumps({"rules": rules, "today": today_count.get(today, 0)}).encode()

    # The aggregates over a million alerts are the costly part.  A day's are kept until the database
    # changes (a check, an action) or the minute turns, like the API's answers; a longer window's
    # for five minutes, since a check every minute would otherwise recompute them on every view.
    if window <= DAY:
        cached = json.loads(request.app.state.ctx.cached(("console-stats", window, now // MINUTE, offset), compute))
    else:
        key = (window, now // (5 * MINUTE), offset)
        cached = json.loads(_reuse(request, "console_long_stats", key, LONG_WINDOW_TTL, lambda: compute(ws)))
    summary = cached["rules"]
    per_day = {**_past_days(request, today - CHART_DAYS + 1, today - 1, offset), today: cached["today"]}
    days = []
    for day in range(today - CHART_DAYS + 1, today + 1):
        label = datetime.fromtimestamp(day * DAY / 1000, UTC).strftime("%b %d")
        days.append((day, label, per_day.get(day, 0)))

    def mean(total: float, count: int) -> int | None:
        return round(total / count) if count else None

    rows = [
        {
            "rule": rule,
            "count": r["count"],
            "active": r["active"],
            "mtta": mean(r["acknowledge"], r["acked"]),
            "mttr": mean(r["resolution"], r["resolved"]),
        }
        for rule, r in summary.items()
    ]
    totals = {
        key: sum(r[key] for r in summary.values())
        for key in ("count", "active", "resolved", "resolution", "acked", "acknowledge")
    }
    data = {
        "total": totals["count"],
        "active": totals["active"],
        "mtta": mean(totals["acknowledge"], totals["acked"]),
        "mttr": mean(totals["resolution"], totals["resolved"]),
    }
    return html(
        request,
        "stats.html",
        session=session,
        data=data,
        rows=rows,
        window=window_name,
        windows=list(STATS_WINDOWS),
        chart=charts.bar_chart(days, label=f"Alerts per day, last {CHART_DAYS} days"),
    )


@view()
def rules(request, session):
    return html(request, "rules.html", session=session, rules=_ws(request).config().rules)

"""The post-incident review of one alert, as Markdown or HTML (``review``).

``build`` gathers the facts from the state database: a summary (rule,
severity, peak value, duration), the key times (first breach, fired, first
notification per channel, acknowledged, resolved) with the times to detect
(first breach to firing), to acknowledge and to resolve (from firing), the
timeline, the notifications and what became of them, the notes, the values
the rule read, and the other alerts that were open meanwhile.  ``markdown``
and ``html`` render it; times are shown in the config's ``timezone``.

The chart and the peak come from the metric history (every value the rule
reads, from an hour before the alert fired to its resolution) when it holds
at least 2 samples; otherwise from what the alert itself recorded: the
metrics it fired with, those of its last notice, and those it resolved with
(``recorded_series``).  HTML escapes every value (Jinja's autoescape, the
template ships in the package); Markdown backslash-escapes the characters
Markdown would read (``md``).  Jinja is imported only when HTML is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .charts import number, sparkline
from .text import one_line, printable
from .timeutil import format_duration, format_time

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    from .config import Config
    from .model import Alert
    from .store import Store

RECORDED = "the alert's recorded values"
HISTORY = "the metric history"
# What Markdown (CommonMark with tables) reads inside a line: emphasis, code, links, HTML, table
# cells, strike-through, entities.  Untrusted text never starts a line here, so list and heading
# markers need no escape.
_MARKDOWN_SPECIAL = "\\`*_[]<>|~&"
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 160, 8
SUMMARY_HEADINGS = ("What went well", "What to improve", "Actions")


@dataclass
class KeyTime:
    label: str
    at: int | None
    by: str | None = None


@dataclass
class Review:
    alert: Alert
    rule_name: str
    fired_severity: str
    events: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    key_times: list[KeyTime]
    detect_ms: int | None
    acknowledge_ms: int | None
    resolve_ms: int | None
    series: dict[str, list[tuple[int, float]]]
    overlapping: list[Alert]
    now: int
    timezone: str | None
    generated_from: str = RECORDED
    peaks: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def end(self) -> int:
        """When it ended (resolved), or now while it is still open."""
        return self.alert.resolved_at if self.alert.resolved_at is not None else self.now

    @property
    def duration_ms(self) -> int:
        return max(0, self.end - self.alert.timestamp)


def build(store: Store, config: Config, alert_id: str, *, now: int) -> Review:
    """The review of ``alert_id``.  Raises ``NotFoundError`` for an unknown alert."""
    from .store.reviews import overlapping
    from .views import alert_detail

    detail = alert_detail(store, alert_id)
    alert, events = detail.alert, detail.events
    fired_detail = (_first_event(events, "fired") or {}).get("detail") or {}
    first_breach = _first_breach(alert, fired_detail)
    acknowledged = _first_event(events, "acknowledged")
    ack_at = acknowledged["at"] if acknowledged else None
    rule = config.rule(alert.rule_id)
    review = Review(
        alert=alert,
        rule_name=rule.name if rule else alert.title,
        fired_severity=str(fired_detail.get("severity") or alert.severity),
        events=events,
        notifications=detail.notifications,
        notes=[{"at": e["at"], **(e.get("detail") or {})} for e in events if e["kind"] == "note"],
        key_times=_key_times(alert, first_breach, detail.notifications, acknowledged),
        detect_ms=alert.timestamp - first_breach,
        acknowledge_ms=None if ack_at is None else ack_at - alert.timestamp,
        resolve_ms=None if alert.resolved_at is None else alert.resolved_at - alert.timestamp,
        series=recorded_series(alert, events),
        overlapping=overlapping(store, alert.id, alert.timestamp, alert.resolved_at or now),
        now=now,
        timezone=config.timezone,
    )
    history = _history_series(store, alert, config, now)
    if history:
        review.series, review.generated_from = history, HISTORY
    review.peaks = _peaks(review.series, first_breach, review.end)
    return review


def _first_event(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in events if e["kind"] == kind), None)


def _first_breach(alert: Alert, fired_detail: dict[str, Any]) -> int:
    """When the condition first held (recorded when it fired), else when the alert fired."""
    breach_since = fired_detail.get("breachSince")
    return breach_since if isinstance(breach_since, int) else alert.timestamp


def _first_notifications(notifications: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """``(channel, at)`` of each channel's first sent notice (not the resolution), earliest first."""
    firsts: dict[str, int] = {}
    for n in notifications:
        if n["status"] == "sent" and n["kind"] != "resolved" and n["sentAt"] is not None:
            firsts[n["channel"]] = min(firsts.get(n["channel"], n["sentAt"]), n["sentAt"])
    return sorted(firsts.items(), key=lambda item: (item[1], item[0]))


def _key_times(
    alert: Alert, first_breach: int, notifications: list[dict[str, Any]], acknowledged: dict[str, Any] | None
) -> list[KeyTime]:
    keys = [KeyTime("First breach", first_breach), KeyTime("Fired", alert.timestamp)]
    keys += [KeyTime(f"First notification via {channel}", at) for channel, at in _first_notifications(notifications)]
    ack_at = acknowledged["at"] if acknowledged else None
    ack_by = ((acknowledged or {}).get("detail") or {}).get("by")
    keys.append(KeyTime("Acknowledged", ack_at, ack_by))
    keys.append(KeyTime("Resolved", alert.resolved_at, alert.resolved_by))
    return keys


def _history_series(store: Store, alert: Alert, config: Config, now: int) -> dict[str, list[tuple[int, float]]]:
    from .history import alert_series

    return {
        path: list(zip(series.ats, series.values, strict=True))
        for path, series in alert_series(store, alert, config, now)
    }


def _peaks(series: dict[str, list[tuple[int, float]]], first_breach: int, end: int) -> dict[str, tuple[int, float]]:
    """path -> its highest ``(at, value)`` during the incident (the earliest of equal highs);
    over the whole series when none falls within it."""
    peaks = {}
    for path, points in series.items():
        during = [p for p in points if first_breach <= p[0] <= end] or points
        peaks[path] = max(during, key=lambda p: (p[1], -p[0]))
    return peaks


def recorded_series(alert: Alert, events: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """path -> ``[(at, value)]``: the numbers the alert recorded when it fired, at its last
    notice and when it resolved.  (The metric history, where a ``check`` keeps every value it
    reads, gives a finer series; this is what the alert itself holds.)"""
    points: list[tuple[int, dict[str, Any]]] = []
    for event in events:
        if event["kind"] == "fired":
            points.append((event["at"], (event.get("detail") or {}).get("metrics") or {}))
    if alert.last_notified_at is not None and alert.metrics:
        points.append((alert.last_notified_at, alert.metrics))
    if alert.resolved_at is not None and alert.resolved_metrics:
        points.append((alert.resolved_at, alert.resolved_metrics))
    series: dict[str, dict[int, float]] = {}
    for at, values in points:
        for path, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                series.setdefault(str(path), {})[at] = float(value)
    return {path: sorted(by_time.items()) for path, by_time in sorted(series.items())}


# ----------------------------------------------------------------- helpers


def md(text: Any) -> str:
    """Text for one Markdown line or table cell: control characters shown as escapes, line
    breaks as spaces, every character Markdown would read backslash-escaped."""
    text = printable(one_line("" if text is None else text))
    out = []
    for i, ch in enumerate(text):
        if ch == "_" and _inside_word(text, i):
            out.append(ch)  # snake_case ids stay readable: an underscore inside a word is never emphasis
        else:
            out.append("\\" + ch if ch in _MARKDOWN_SPECIAL else ch)
    return "".join(out)


def _inside_word(text: str, i: int) -> bool:
    return 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()


def chart_points(points: list[tuple[int, float]], start: int, end: int) -> list[tuple[float, float]]:
    """SVG coordinates of ``points`` in a ``CHART_WIDTH`` x ``CHART_HEIGHT`` box (time across)."""
    if not points:
        return []
    values = [v for _, v in points]
    low, high = min(values), max(values)
    width, height = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD
    span_t = max(1, end - start)
    out = []
    for at, value in points:
        x = CHART_PAD + (min(max(at, start), end) - start) / span_t * width
        y = CHART_PAD + (height / 2 if high == low else (high - value) / (high - low) * height)
        out.append((round(x, 1), round(y, 1)))
    return out


class Times:
    """Times in the config's zone, shortened to the clock on the alert's own day."""

    def __init__(self, tz: str | None, day_of: int):
        self.tz = tz
        parts = format_time(day_of, tz).split(" ", 2)
        self.day = parts[0]
        self.zone = parts[2] if len(parts) > 2 else ""

    def full(self, ms: int | None) -> str:
        return format_time(ms, self.tz)

    def short(self, ms: int | None) -> str:
        if ms is None:
            return "-"
        day, clock = format_time(ms, self.tz).split(" ")[:2]
        return clock if day == self.day else f"{day} {clock}"


def after(ms: int | None, origin: int) -> str:
    """``+3m``, ``-5m`` or ``0s``: how long after ``origin``."""
    if ms is None:
        return "-"
    offset = ms - origin
    return ("-" if offset < 0 else "+" if offset > 0 else "") + format_duration(abs(offset))


def maybe_duration(ms: int | None) -> str:
    return "-" if ms is None else format_duration(ms)


def _view(review: Review) -> dict[str, Any]:
    """Everything the two renderings show, as plain text (escaped by each renderer)."""
    alert = review.alert
    times = Times(review.timezone, alert.timestamp)
    start, end = min([alert.timestamp] + [p[0][0] for p in review.series.values() if p]), review.end
    return {
        "title": f"Post-incident review: {alert.title}",
        "zone": times.zone or "UTC",
        "day": times.day,
        "summary": _summary(review, times),
        "key_times": [
            (
                k.label + (f" by {k.by}" if k.by else ""),
                times.full(k.at) if k.at is not None else "-",
                after(k.at, alert.timestamp),
            )
            for k in review.key_times
        ],
        "measures": [
            ("Time to detect", maybe_duration(review.detect_ms)),
            ("Time to acknowledge", maybe_duration(review.acknowledge_ms)),
            ("Time to resolve", maybe_duration(review.resolve_ms)),
        ],
        "timeline": _timeline(review, times),
        "notifications": [
            (
                n["channel"],
                n["kind"],
                n["status"],
                str(n["attempts"]),
                times.short(n["sentAt"]) if n["sentAt"] is not None else "-",
                n["error"] or "",
            )
            for n in review.notifications
        ],
        "notes": [(times.short(n["at"]), str(n.get("by") or "?"), str(n.get("text") or "")) for n in review.notes],
        "overlapping": [
            (
                other.id,
                other.rule_id,
                other.severity,
                times.short(other.timestamp),
                times.short(other.resolved_at) if other.resolved_at is not None else "still open",
            )
            for other in review.overlapping
        ],
        "charts": [_chart(path, points, start, end) for path, points in review.series.items()],
        "chart_source": review.generated_from,
        "chart_span": f"{times.short(start)} to {times.short(end)}",
        "headings": SUMMARY_HEADINGS,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


def _summary(review: Review, times: Times) -> list[tuple[str, str]]:
    alert = review.alert
    severity = alert.severity
    if alert.escalated and review.fired_severity != alert.severity:
        severity = f"{alert.severity} (escalated from {review.fired_severity})"
    peaks = [
        f"{path} = {number(value)} at {times.short(at)}" for path, (at, value) in sorted(review.peaks.items())
    ] or ["no numeric value recorded"]
    return [
        ("Alert", alert.id),
        ("Rule", f"{review.rule_name} ({alert.rule_id}, {alert.type})"),
        ("Severity", severity),
        ("Status", alert.status if alert.resolved else f"{alert.status} (still open)"),
        ("Description", alert.description or ""),
        ("Peak value", "; ".join(peaks)),
        ("Duration", format_duration(review.duration_ms) + ("" if alert.resolved else " so far")),
    ]


def _timeline(review: Review, times: Times) -> list[tuple[str, str, str, str]]:
    from .views import event_text

    return [
        (
            times.short(e["at"]),
            after(e["at"], review.alert.timestamp),
            e["kind"],
            event_text(e["kind"], e.get("detail") or {}, review.timezone),
        )
        for e in review.events
    ]


def _chart(path: str, points: list[tuple[int, float]], start: int, end: int) -> dict[str, Any]:
    values = [v for _, v in points]
    dots = chart_points(points, start, max(end, start + 1))
    return {
        "path": path,
        "sparkline": sparkline(values, 40),
        "low": number(min(values)),
        "high": number(max(values)),
        "count": len(values),
        "points": " ".join(f"{x},{y}" for x, y in dots),
        "dots": dots,
    }


def _table(headers: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return lines


def markdown(review: Review) -> str:
    """The review as Markdown (a sparkline for the chart)."""
    v = _view(review)
    out = [f"# {md(v['title'])}", "", f"Times in {md(v['zone'])}; the alert fired on {v['day']}.", ""]
    out += ["## Summary", ""] + _table(("", ""), v["summary"]) + [""]
    out += ["## Key times", ""] + _table(("Moment", "Time", "After firing"), v["key_times"]) + [""]
    out += [f"- {label}: {value}" for label, value in v["measures"]] + [""]
    out += ["## Chart", ""]
    if v["charts"]:
        out.append(f"From {md(v['chart_source'])}, {md(v['chart_span'])}:")
        out.append("")
        for chart in v["charts"]:
            out.append(
                f"- {md(chart['path'])}: {chart['sparkline']} (min {md(chart['low'])}, "
                f"max {md(chart['high'])}, {chart['count']} value{'s' if chart['count'] != 1 else ''})"
            )
    else:
        out.append("No numeric value was recorded.")
    out.append("")
    out += ["## Timeline", ""] + _table(("Time", "After", "Event", "Details"), v["timeline"]) + [""]
    out += ["## Notifications", ""]
    out += (
        _table(("Channel", "Kind", "Status", "Tries", "Sent", "Error"), v["notifications"])
        if v["notifications"]
        else ["None recorded."]
    )
    out += ["", "## Notes", ""]
    out += [f"- {md(at)} {md(by)}: {md(text)}" for at, by, text in v["notes"]] or ["No notes."]
    out += ["", "## Overlapping alerts", ""]
    out += (
        _table(("Alert", "Rule", "Severity", "Fired", "Resolved"), v["overlapping"]) if v["overlapping"] else ["None."]
    )
    for heading in v["headings"]:
        out += ["", f"## {heading}", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def html(review: Review) -> str:
    """The review as one HTML page (an inline SVG chart); every value escaped."""
    return render_template("review.html.j2", _view(review))


def render_template(name: str, view: dict[str, Any]) -> str:
    """A template shipped in ``pantry_alert/review_templates``, rendered with autoescape (and
    control characters shown as escapes, as on a terminal)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pantry_alert", "review_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        finalize=lambda value: printable(value) if isinstance(value, str) else value,  # control characters shown
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(**view)

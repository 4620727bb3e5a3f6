"""Maintenance windows and silences: a scheduled silence, the resolved notice through a silence,
and DST-correct windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from time_cases import POLICY_RULES, cases

from pantry_alert.config.model import Maintenance, WeeklySpan
from pantry_alert.maintenance_windows import next_span, open_span, wall_instant


def test_notify_resolved_when_silenced_lets_the_resolved_notice_through(cli):
    rules = POLICY_RULES.replace("    escalation_policy: backend\n", "    notify_resolved_when_silenced: true\n")
    text = """
tests:
  - name: resolved passes a silence
    steps:
      - at: 0m
        metrics: {errorRate: 0.09, p95: 1}
        expect: {notifications: {slack: [high_error_rate firing]}}
      - at: 1m
        silence: {high_error_rate: 1h, slow: 1h}
      - at: 2m
        metrics: {errorRate: 0.01, p95: 2500}
        expect: {resolved: [high_error_rate], notifications: {slack: [high_error_rate resolved]}}
      - at: 3m
        metrics: {p95: 1}
        expect: {resolved: [slow], notifications: {}}
"""
    result = cases(cli, rules, text)
    assert result.code == 0, result.out


def test_a_scheduled_silence_holds_from_its_start(cli):
    text = """
tests:
  - name: later silence
    steps:
      - at: 0m
        metrics: {errorRate: 0.01, p95: 2500}
        silence: {slow: {start: 5m, for: 30m}}
        expect: {silenced: [], notifications: {console: [slow firing]}}
      - at: 5m
        expect: {silenced: [slow], notifications: {}}
      - at: 10m
        expect: {notifications: {}}
      - at: 35m
        expect: {silenced: [], notifications: {console: [slow reminder]}}
"""
    result = cases(cli, POLICY_RULES, text)
    assert result.code == 0, result.out


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def weekly(day: int, start: str, end: str, zone: str = "Europe/Berlin") -> Maintenance:
    def minutes(clock: str) -> int:
        hours, mins = clock.split(":")
        return int(hours) * 60 + int(mins)

    return Maintenance(
        name="w", timezone=zone, rules=("*",), weekly=(WeeklySpan((day,), minutes(start), minutes(end)),)
    )


SUN, SAT = 6, 5


@pytest.mark.parametrize(
    ("now", "span"),
    [
        # last Sunday of March 2026: 02:00 does not exist; the window starts at 03:00 CEST
        ("2026-03-29T00:59:00+00:00", None),
        ("2026-03-29T01:00:00+00:00", ("2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00")),
        ("2026-03-29T01:59:00+00:00", ("2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00")),
        ("2026-03-29T02:00:00+00:00", None),
        # last Sunday of October 2026: 02:00 CEST (the first 02:00) to 04:00 CET: three real hours
        ("2026-10-24T23:59:00+00:00", None),
        ("2026-10-25T00:00:00+00:00", ("2026-10-25T02:00:00+02:00", "2026-10-25T04:00:00+01:00")),
        ("2026-10-25T02:30:00+00:00", ("2026-10-25T02:00:00+02:00", "2026-10-25T04:00:00+01:00")),
        ("2026-10-25T03:00:00+00:00", None),
        # an ordinary Sunday
        ("2026-04-05T00:00:00+00:00", ("2026-04-05T02:00:00+02:00", "2026-04-05T04:00:00+02:00")),
    ],
)
def test_a_weekly_window_follows_the_wall_clock_across_dst(now, span):
    window = weekly(SUN, "02:00", "04:00")
    expected = (ms(span[0]), ms(span[1])) if span else None
    assert open_span(window, ms(now)) == expected


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        ("2026-03-28T21:59:00+00:00", False),  # Saturday 22:59 CET
        ("2026-03-28T22:00:00+00:00", True),  # Saturday 23:00 CET
        ("2026-03-28T23:59:00+00:00", True),  # Sunday 00:59 CET
        ("2026-03-29T00:00:00+00:00", True),  # Sunday 01:00 CET
        ("2026-03-29T00:59:00+00:00", True),
        ("2026-03-29T01:00:00+00:00", True),  # 03:00 CEST: the night lost an hour
        ("2026-03-29T01:59:00+00:00", True),
        ("2026-03-29T02:00:00+00:00", False),  # 04:00 CEST
        ("2026-10-24T21:00:00+00:00", True),  # Saturday 23:00 CEST
        ("2026-10-25T02:59:00+00:00", True),  # Sunday 03:59 CET, after the repeated hour
        ("2026-10-25T03:00:00+00:00", False),  # 04:00 CET
    ],
)
def test_a_window_crossing_midnight_on_the_dst_nights(now, open_):
    window = weekly(SAT, "23:00", "04:00")
    assert (open_span(window, ms(now)) is not None) == open_


def test_the_next_opening_and_a_cron_window_in_the_gap():
    window = weekly(SUN, "02:00", "04:00")
    assert next_span(window, ms("2026-03-27T12:00:00+00:00")) == (
        ms("2026-03-29T03:00:00+02:00"),
        ms("2026-03-29T04:00:00+02:00"),
    )
    cron = Maintenance(name="c", timezone="Europe/Berlin", rules=("*",), cron="0 2 * * 0", duration_ms=2 * 3_600_000)
    assert open_span(cron, ms("2026-03-29T01:30:00+00:00")) == (
        ms("2026-03-29T03:00:00+02:00"),
        ms("2026-03-29T05:00:00+02:00"),
    )
    assert open_span(cron, ms("2026-03-29T03:00:00+00:00")) is None
    assert next_span(cron, ms("2026-03-29T03:00:00+00:00"))[0] == ms("2026-04-05T02:00:00+02:00")


def test_wall_instant_reads_a_gap_as_the_first_valid_time_after_it():
    from datetime import date
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    assert wall_instant(date(2026, 3, 29), 150, berlin) == ms("2026-03-29T03:00:00+02:00")
    assert wall_instant(date(2026, 10, 25), 150, berlin) == ms("2026-10-25T02:30:00+02:00")
    assert datetime.fromtimestamp(wall_instant(date(2026, 6, 1), 0, berlin) / 1000, UTC).hour == 22

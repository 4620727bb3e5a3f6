"""Escalation policies, maintenance windows, inhibition and flapping: timelines through
``rules test --cases`` (in-process), the configuration errors, and DST-correct windows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import MINUTE, T0

from pantry_alert.config.model import Maintenance, WeeklySpan
from pantry_alert.maintenance_windows import next_span, open_span, wall_instant

POLICY_RULES = """
escalation_policies:
  backend:
    - {after: 0m, channels: [slack]}
    - {after: 15m, channels: [email]}
    - {after: 45m, channels: [webhook], repeat: 30m}
rules:
  - id: high_error_rate
    name: High Error Rate
    type: error
    severity: critical
    when: errorRate > 0.05
    cooldown: 10m
    channels: [slack]
    escalation_policy: backend
  - id: slow
    name: Slow
    type: performance
    severity: high
    when: p95 > 2000
    cooldown: 10m
    channels: [console]
"""

POLICY_CASES = """
metrics: {errorRate: 0.01, p95: 100}
tests:
  - name: pages by time, reminds the reached channels, repeats the last step, resolves everywhere
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        expect: {step: {high_error_rate: 1}, notifications: {slack: [high_error_rate firing step 1]}}
      - at: 10m
        expect: {notifications: {slack: [high_error_rate reminder]}}
      - at: 14m
        expect: {step: {high_error_rate: 1}, notifications: {}}
      - at: 15m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
      - at: 25m
        expect: {notifications: {slack: [high_error_rate reminder], email: [high_error_rate reminder]}}
      - at: 45m
        expect: {step: {high_error_rate: 3}, notifications: {webhook: [high_error_rate escalated step 3]}}
      - at: 74m
        expect: {notifications: {slack: [high_error_rate reminder], email: [high_error_rate reminder],
                                 webhook: [high_error_rate reminder]}}
      - at: 75m
        expect: {notifications: {webhook: [high_error_rate escalated step 3]}}
      - at: 80m
        metrics: {errorRate: 0.01}
        expect:
          resolved: [high_error_rate]
          notifications:
            slack: [high_error_rate resolved]
            email: [high_error_rate resolved]
            webhook: [high_error_rate resolved]
  - name: an acknowledgement stops the steps; once it expires the timeline resumes where it stood
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
      - at: 5m
        ack: {high_error_rate: 20m}
      - at: 15m
        expect: {acknowledged: [high_error_rate], step: {high_error_rate: 1}, notifications: {}}
      - at: 26m
        expect: {status: {high_error_rate: firing}, notifications: {slack: [high_error_rate reminder]}}
      - at: 34m
        expect: {notifications: {}}
      - at: 35m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
  - name: a silence holds the steps back; all that fell due run in order at the first run after
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        silence: {high_error_rate: 50m}
        expect: {silenced: [high_error_rate], notifications: {}}
      - at: 20m
        expect: {step: {high_error_rate: 0}, notifications: {}}
      - at: 51m
        expect:
          step: {high_error_rate: 3}
          silenced: []
          notifications:
            slack: [high_error_rate firing step 1]
            email: [high_error_rate escalated step 2]
            webhook: [high_error_rate escalated step 3]
  - name: a rule without a policy keeps the count escalation
    steps:
      - at: 0m
        metrics: {p95: 2500}
        expect: {notifications: {console: [slow firing]}}
      - at: 10m
        expect: {notifications: {console: [slow reminder]}}
      - at: 20m
        expect: {severity: {slow: critical}, notifications: {console: [slow escalated], webhook: [slow escalated]}}
"""

HOLD_RULES = """
maintenance:
  - name: weekly-backup
    rules: ["database_*"]
    weekly: [{days: [wed], start: "13:00", end: "14:00"}]
    timezone: Europe/Berlin
flapping: {transitions: 4, window: 30m}
rules:
  - id: database_errors
    name: Database errors
    type: error
    severity: high
    when: databaseErrors > 10
    cooldown: 5m
    channels: [email]
    flapping: false
  - id: api_errors
    name: API errors
    type: error
    severity: high
    when: errorRate > 0.05
    cooldown: 5m
    channels: [slack]
    inhibited_by: [database_errors]
    flapping: false
  - id: cpu
    name: CPU
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 5m
    channels: [slack]
"""

# 2025-11-26 is a Wednesday; the window is 13:00-14:00 Berlin (12:00-13:00 UTC).
HOLD_CASES = """
start: "2025-11-26T12:00:00+01:00"
metrics: {databaseErrors: 0, errorRate: 0.01, cpu: 10}
tests:
  - name: a window holds the notices and notifies a still-firing alert once at its close
    steps:
      - at: 0m
        expect: {notifications: {}}
      - at: 61m
        metrics: {databaseErrors: 12}
        expect: {firing: [database_errors], silenced: [database_errors], notifications: {}}
      - at: 90m
        expect: {notifications: {}}
      - at: 120m
        expect: {silenced: [], notifications: {email: [database_errors firing]}}
      - at: 121m
        expect: {notifications: {}}
  - name: an alert notified before the window gets its due reminder once at the close
    steps:
      - at: 50m
        metrics: {databaseErrors: 12}
        expect: {notifications: {email: [database_errors firing]}}
      - at: 70m
        expect: {notifications: {}}
      - at: 120m
        expect: {notifications: {email: [database_errors reminder]}}
  - name: an alert that fires and resolves inside the window sends nothing
    steps:
      - at: 61m
        metrics: {databaseErrors: 12}
      - at: 70m
        metrics: {databaseErrors: 1}
        expect: {resolved: [database_errors], notifications: {}}
      - at: 120m
        expect: {notifications: {}}
  - name: an inhibited rule is notified at the first run its inhibitor is resolved
    steps:
      - at: 0m
        metrics: {databaseErrors: 12, errorRate: 0.09}
        expect: {inhibited: [api_errors], firing: [api_errors, database_errors],
                 notifications: {email: [database_errors firing]}}
      - at: 10m
        expect: {inhibited: [api_errors], notifications: {email: [database_errors reminder]}}
      - at: 11m
        metrics: {databaseErrors: 1}
        expect: {inhibited: [], notifications: {email: [database_errors resolved], slack: [api_errors firing]}}
  - name: inhibition never delays a resolution
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        expect: {notifications: {slack: [api_errors firing]}}
      - at: 1m
        metrics: {databaseErrors: 12}
        expect: {inhibited: [api_errors], notifications: {email: [database_errors firing]}}
      - at: 2m
        metrics: {errorRate: 0.01}
        expect: {resolved: [api_errors], notifications: {slack: [api_errors resolved]}}
  - name: a flapping rule sends one notice, then one more with its state once stable
    steps:
      - at: 0m
        metrics: {cpu: 95}
        expect: {notifications: {slack: [cpu firing]}}
      - at: 1m
        metrics: {cpu: 10}
        expect: {notifications: {slack: [cpu resolved]}}
      - at: 7m
        metrics: {cpu: 95}
        expect: {notifications: {slack: [cpu firing]}}
      - at: 8m
        metrics: {cpu: 10}
        expect: {status: {cpu: flapping}, resolved: [], notifications: {slack: [cpu flapping]}}
      - at: 9m
        metrics: {cpu: 95}
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 20m
        metrics: {cpu: 10}
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 49m
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 50m
        expect: {resolved: [cpu], status: {cpu: none}, notifications: {slack: [cpu resolved]}}
"""


def cases(cli, rules: str, text: str, *args: str):
    cli.config.write_text(rules)
    path = cli.tmp / "cases.yaml"
    path.write_text(text)
    return cli("rules", "test", "--cases", str(path), *args, now=None)


def test_escalation_policy_timelines(cli):
    result = cases(cli, POLICY_RULES, POLICY_CASES)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "4 tests: 4 passed, 0 failed"


def test_window_inhibition_and_flapping_timelines(cli):
    result = cases(cli, HOLD_RULES, HOLD_CASES)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "6 tests: 6 passed, 0 failed"


def test_a_step_asserted_too_early_fails_with_a_diff(cli):
    early = """
tests:
  - name: too early
    steps:
      - at: 0m
        metrics: {errorRate: 0.09, p95: 1}
      - at: 10m
      - at: 14m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
"""
    result = cases(cli, POLICY_RULES, early)
    assert result.code == 1
    assert result.out.splitlines() == [
        "FAIL  too early",
        "      at 14m: step.high_error_rate (- expected, + got)",
        "        - 2",
        "        + 1",
        "      at 14m: notifications.email (- expected, + got)",
        "        - high_error_rate escalated step 2",
        "1 test: 0 passed, 1 failed",
    ]


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


def test_the_source_alert_inhibits_every_rule(cli):
    cli.config.write_text(HOLD_RULES)
    breach = {"databaseErrors": 1, "errorRate": 0.01, "cpu": 95}
    fired = cli.check(breach, "--json", now=T0)
    assert fired.json()["fired"] == [f"cpu_{T0}"]
    for minute in (1, 2, 3):
        cli("check", "--metrics-file", str(cli.tmp / "missing.json"), now=T0 + minute * MINUTE)
    listed = {a["ruleId"]: a for a in cli("list", "--json", now=T0 + 3 * MINUTE).json()}
    assert listed["metrics_source_unavailable"]["inhibited"] is False
    assert listed["cpu"]["inhibited"] is True
    shown = cli("show", f"cpu_{T0}", "--json", now=T0 + 3 * MINUTE).json()
    assert [e["detail"] for e in shown["events"] if e["kind"] == "inhibited"] == [
        {"inhibitor": "metrics_source_unavailable"}
    ]
    back = cli.check(breach, "--json", now=T0 + 10 * MINUTE).json()
    assert back["resolved"] == [f"metrics_source_unavailable_{T0 + 3 * MINUTE}"]
    assert back["reminded"] == [f"cpu_{T0}"]  # the reminder held back while the source was down
    assert cli("list", "--json", now=T0 + 10 * MINUTE).json()[0]["inhibited"] is False


# ----------------------------------------------------------------- configuration errors

BAD = """
escalation_policies:
  backend:
    - {after: 0m, channels: [slack]}
    - {channels: [email]}
    - {after: 45m, channels: [webhook], repeat: 30m}
  other:
    - {after: 5m, channels: [slack], repeat: 5m}
    - {after: 10m, channels: [slack]}
routes: {critical: {policy: nope}}
maintenance:
  - name: weekly
    rules: [cpu_*]
    weekly: [{days: [sun, funday], start: "02:00", end: "04:00"}]
    timezone: Mars/Base
  - name: cronny
    match: {severity: high}
    cron: "61 * * * *"
flapping: {transitions: 1, window: 1h}
rules:
  - id: a
    name: A
    type: error
    severity: high
    when: x > 1
    escalation_policy: missing
    inhibited_by: [a, b, zz]
  - id: b
    name: B
    type: error
    severity: high
    when: x > 1
    inhibited_by: [c]
  - id: c
    name: C
    type: error
    severity: high
    when: x > 1
    inhibited_by: [b]
"""


def test_every_configuration_error_names_its_key_and_line(cli):
    cli.config.write_text(BAD)
    result = cli("rules", "validate", now=None)
    assert result.code == 2
    path = cli.config
    problems = [line.strip() for line in result.err.splitlines()[1:-1]]
    assert problems == [
        f"{path}:5: escalation_policies.backend.1: a step needs after "
        "(how long the alert fires unacknowledged first, e.g. 0m, 15m)",
        f"{path}:8: escalation_policies.other.0.repeat: only the last step may repeat",
        f"{path}:10: routes.critical.policy: unknown escalation policy 'nope' (escalation_policies: backend, other)",
        f"{path}:15: maintenance.0.timezone: unknown time zone 'Mars/Base' (use an IANA name like Europe/Berlin)",
        f"{path}:14: maintenance.0.weekly.0.days: days must be a list of mon, tue, wed, thu, fri, sat, sun",
        f"{path}:18: maintenance.1.cron: invalid cron expression '61 * * * *': Bad minute",
        f"{path}:16: maintenance.1: a cron window needs duration (how long each opening lasts, e.g. 2h)",
        f"{path}:19: flapping.transitions: must be a whole number ≥ 2, not 1",
        f"{path}:26: rule 'a': rules.0.escalation_policy: unknown escalation policy 'missing' "
        "(escalation_policies: backend, other)",
        f"{path}:27: rule 'a': rules.0.inhibited_by: a rule cannot inhibit itself",
        f"{path}:27: rule 'a': rules.0.inhibited_by: unknown rule 'zz'",
        f"{path}:33: rule 'b': rules.1.inhibited_by: inhibition cycle: b -> c -> b",
        f"{path}:39: rule 'c': rules.2.inhibited_by: inhibition cycle: c -> b -> c",
    ]


# ----------------------------------------------------------------- DST-correct windows


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


def test_a_route_pages_a_severity_by_policy_and_a_rule_s_own_policy_wins(cli):
    rules = POLICY_RULES.replace(
        "rules:\n",
        "  quick:\n    - {after: 0m, channels: [console]}\n"
        "routes: {critical: {policy: quick}, high: {policy: quick}}\nrules:\n",
        1,
    )
    text = """
tests:
  - name: routed
    steps:
      - at: 0m
        metrics: {errorRate: 0.09, p95: 2500}
        expect:
          step: {high_error_rate: 1, slow: 1}
          notifications: {slack: [high_error_rate firing step 1], console: [slow firing step 1]}
      - at: 10m
        expect: {notifications: {slack: [high_error_rate reminder], console: [slow reminder]}}
      - at: 20m
        expect:
          severity: {slow: high}
          notifications: {email: [high_error_rate escalated step 2], console: [slow reminder]}
"""
    result = cases(cli, rules, text)
    assert result.code == 0, result.out


def test_a_policy_rule_that_flaps_gets_its_flapping_notice(cli):
    rules = POLICY_RULES.replace("rules:\n", "flapping: {transitions: 3, window: 30m}\nrules:\n", 1).replace(
        "    cooldown: 10m\n    channels: [slack]\n", "    cooldown: 0m\n    channels: [slack]\n", 1
    )
    text = """
tests:
  - name: flaps
    steps:
      - {at: 0m, metrics: {errorRate: 0.09, p95: 1}, expect: {notifications: {slack: [high_error_rate firing step 1]}}}
      - {at: 1m, metrics: {errorRate: 0.01}, expect: {notifications: {slack: [high_error_rate resolved]}}}
      - at: 2m
        metrics: {errorRate: 0.09}
        expect: {status: {high_error_rate: flapping}, notifications: {slack: [high_error_rate flapping]}}
      - {at: 20m, expect: {status: {high_error_rate: flapping}, notifications: {}}}
"""
    result = cases(cli, rules, text)
    assert result.code == 0, result.out

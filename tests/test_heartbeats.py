"""Heartbeats: schedules (cron and every, in a zone, across DST, with grace), states, the ping
and heartbeats commands, their alerts through check, and the config section's checks."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import MINUTE, T0, Cli, Result, rows
from hypothesis import given
from hypothesis import strategies as st

from pantry_alert.config import load
from pantry_alert.heartbeats import PingRecord, status
from pantry_alert.store import pings as stored

BERLIN = ZoneInfo("Europe/Berlin")
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def berlin(text: str) -> int:
    """Epoch ms of a Berlin wall-clock time; ``fold=1`` picks the second of a repeated hour."""
    fold = text.endswith("!")
    local = datetime.fromisoformat(text.rstrip("!")).replace(tzinfo=BERLIN, fold=int(fold))
    return int(local.timestamp() * 1000)


def heartbeat(tmp_path: Path, settings: str, top: str = ""):
    path = tmp_path / "hb.yaml"
    path.write_text(f"{top}heartbeats:\n  job:\n    channels: [console]\n{settings}")
    (found,) = load(path, env={}).heartbeats
    return found


def merge(record: PingRecord, kind: str, at: int, exit_code: int | None, output: str | None) -> PingRecord:
    """``record`` after one more ping, as the store records it."""
    stored.merge(vars(record), kind, at, exit_code, output)
    return record


def after_success(at: int) -> PingRecord:
    return merge(PingRecord("job"), "success", at, None, None)


# ------------------------------------------------------------------ schedules


def test_a_daily_cron_slot_in_berlin_across_the_spring_forward_night(tmp_path):
    hb = heartbeat(tmp_path, '    schedule: "30 2 * * *"\n    timezone: Europe/Berlin\n    grace: 30m\n')
    record = after_success(berlin("2026-03-28T02:31"))
    # 02:30 does not exist on 29 March 2026 (02:00 CET -> 03:00 CEST): the slot is 03:00 CEST, as cron runs it
    due = berlin("2026-03-29T03:00")
    assert due - record.last_success_at == 23 * HOUR + 29 * MINUTE
    assert status(hb, record, due + 30 * MINUTE) == status(hb, record, berlin("2026-03-28T12:00"))
    assert status(hb, record, due + 30 * MINUTE).state == "up"
    late = status(hb, record, due + 30 * MINUTE + 1)
    assert (late.state, late.expected_at, late.last_ping_at) == ("late", due, record.last_success_at)
    # the next success covers that slot; the one after is 02:30 CEST again
    record = merge(record, "success", berlin("2026-03-29T03:40"), None, None)
    assert status(hb, record, berlin("2026-03-29T12:00")).expected_at == berlin("2026-03-30T02:30")


def test_a_daily_cron_slot_in_berlin_across_the_fall_back_night_comes_once(tmp_path):
    hb = heartbeat(tmp_path, '    schedule: "30 2 * * *"\n    timezone: Europe/Berlin\n    grace: 10m\n')
    # 02:30 happens twice on 25 October 2026; the job runs at the first one only
    record = after_success(berlin("2026-10-25T02:31"))
    assert status(hb, record, berlin("2026-10-25T02:45!")).state == "up"  # the repeated 02:30 expects nothing
    next_slot = berlin("2026-10-26T02:30")
    assert next_slot - record.last_success_at == 24 * HOUR + 59 * MINUTE
    assert status(hb, record, next_slot + 10 * MINUTE).state == "up"
    assert status(hb, record, next_slot + 10 * MINUTE + 1).state == "late"


def test_a_success_up_to_grace_before_a_slot_counts_for_it(tmp_path):
    hb = heartbeat(tmp_path, '    schedule: "30 2 * * *"\n    timezone: Europe/Berlin\n    grace: 30m\n')
    early = after_success(berlin("2026-01-10T02:00"))  # 30 minutes early: counts for today's 02:30
    assert status(hb, early, berlin("2026-01-10T03:30")).expected_at == berlin("2026-01-11T02:30")
    too_early = after_success(berlin("2026-01-10T01:59"))  # 31 minutes early: does not
    assert status(hb, too_early, berlin("2026-01-10T03:00")).state == "up"
    late = status(hb, too_early, berlin("2026-01-10T03:00") + 1)
    assert (late.state, late.expected_at) == ("late", berlin("2026-01-10T02:30"))


def test_every_counts_real_time_from_the_last_success_across_a_dst_change(tmp_path):
    hb = heartbeat(tmp_path, "    every: 1h\n    grace: 5m\n", top="timezone: Europe/Berlin\n")
    assert hb.timezone == "Europe/Berlin"  # the top-level zone is the default
    record = after_success(berlin("2026-03-29T01:30"))  # CET
    due = berlin("2026-03-29T03:30")  # CEST: one real hour later
    assert due - record.last_success_at == HOUR
    assert status(hb, record, due + 5 * MINUTE).state == "up"
    late = status(hb, record, due + 5 * MINUTE + 1)
    assert (late.state, late.expected_at) == ("late", due)


@given(
    success=st.integers(T0, T0 + 400 * DAY),
    every=st.integers(1, 30 * DAY),
    grace=st.integers(0, DAY),
    wait=st.integers(0, 60 * DAY),
)
def test_every_is_late_exactly_after_every_plus_grace(tmp_path_factory, success, every, grace, wait):
    from pantry_alert.config import Rule
    from pantry_alert.heartbeats import Heartbeat

    rule = Rule("heartbeat_job", "Heartbeat job", "heartbeat", "high", None)
    hb = Heartbeat("job", rule, every_ms=every, grace_ms=grace)
    got = status(hb, after_success(success), success + wait)
    assert (got.state, got.expected_at) == ("late" if wait > every + grace else "up", success + every)


@given(success=st.integers(T0, T0 + 400 * DAY), grace=st.integers(0, 2 * HOUR), wait=st.integers(0, 3 * HOUR))
def test_a_quarter_hour_cron_expects_the_first_slot_the_success_does_not_cover(success, grace, wait):
    from pantry_alert.config import Rule
    from pantry_alert.heartbeats import Heartbeat

    rule = Rule("heartbeat_job", "Heartbeat job", "heartbeat", "high", None)
    hb = Heartbeat("job", rule, schedule="*/15 * * * *", timezone="Asia/Kolkata", grace_ms=grace)
    quarter = 15 * MINUTE
    expected = ((success + grace) // quarter + 1) * quarter  # Kolkata is UTC+5:30: quarters line up
    got = status(hb, after_success(success), success + wait)
    assert (got.state, got.expected_at) == ("late" if success + wait > expected + grace else "up", expected)


# ------------------------------------------------------------------ states


def test_states_new_running_failed_late_and_their_precedence(tmp_path):
    hb = heartbeat(tmp_path, "    every: 1h\n    grace: 10m\n    max_runtime: 30m\n")
    assert status(hb, None, T0) == status(hb, PingRecord("job", first_seen_at=T0), T0 + 9 * DAY)
    assert status(hb, None, T0).state == "new"
    record = after_success(T0)
    merge(record, "start", T0 + HOUR, None, None)
    running = status(hb, record, T0 + HOUR + 10 * MINUTE)
    assert (running.state, running.expected_at) == ("running", T0 + HOUR)
    # a start without an end for longer than max_runtime is late: the end was due at start + max_runtime
    stuck = status(hb, record, T0 + HOUR + 30 * MINUTE + 1)
    assert (stuck.state, stuck.expected_at, stuck.last_ping_at) == ("late", T0 + HOUR, T0 + HOUR)
    merge(record, "fail", T0 + HOUR + 20 * MINUTE, 3, "disk full")
    failed = status(hb, record, T0 + 3 * HOUR)  # failed wins over late
    assert failed.to_json() == {
        "name": "job",
        "state": "failed",
        "lastPingAt": T0 + HOUR + 20 * MINUTE,
        "nextExpectedAt": T0 + HOUR,
        "lastExitCode": 3,
    }
    assert failed.alert_values() == {
        "lastPingAt": T0 + HOUR + 20 * MINUTE,
        "expectedAt": T0 + HOUR,
        "exitCode": 3,
        "output": "disk full",
    }
    merge(record, "start", T0 + 2 * HOUR, None, None)  # a new run does not clear the failure
    assert status(hb, record, T0 + 2 * HOUR).state == "failed"
    merge(record, "success", T0 + 2 * HOUR + MINUTE, 0, None)
    assert status(hb, record, T0 + 2 * HOUR + MINUTE).state == "up"


def test_of_pings_at_the_same_instant_the_one_recorded_last_is_the_last(tmp_path):
    hb = heartbeat(tmp_path, "    every: 1h\n")
    record = merge(after_success(T0), "start", T0, None, None)
    assert status(hb, record, T0).state == "running"
    merge(record, "success", T0, 0, None)
    assert status(hb, record, T0).state == "up"
    merge(record, "success", T0 - HOUR, None, None)  # a ping from a clock that was behind changes nothing
    assert (record.last_ping_at, record.last_success_at) == (T0, T0)


def test_a_start_without_an_end_and_without_max_runtime_is_running_until_the_schedule_is_late(tmp_path):
    hb = heartbeat(tmp_path, "    every: 1h\n    grace: 10m\n")
    record = merge(after_success(T0), "start", T0 + HOUR, None, None)
    assert status(hb, record, T0 + HOUR + 10 * MINUTE).state == "running"
    assert status(hb, record, T0 + HOUR + 10 * MINUTE + 1).state == "late"


def test_alert_if_never_counts_from_the_first_check_that_saw_it(tmp_path):
    hb = heartbeat(tmp_path, '    schedule: "0 * * * *"\n    grace: 5m\n    alert_if_never: true\n')
    seen = PingRecord("job", first_seen_at=T0 + 10 * MINUTE)  # T0 is 12:00 UTC: first slot 13:00
    assert status(hb, seen, T0 + HOUR + 5 * MINUTE) == status(hb, seen, T0 + 11 * MINUTE)
    late = status(hb, seen, T0 + HOUR + 5 * MINUTE + 1)
    assert (late.state, late.expected_at, late.last_ping_at) == ("late", T0 + HOUR, None)
    assert late.alert_values() == {"lastPingAt": None, "expectedAt": T0 + HOUR}


# ------------------------------------------------------------------ commands and check

HEARTBEATS = """
heartbeats:
  nightly_backup:
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    grace: 30m
    max_runtime: 2h
    severity: critical
    channels: [console]
    description: "The nightly backup has not reported"
    runbook_url: https://wiki.example.com/runbooks/backup
  worker:
    every: 10m
    channels: [console]
"""


@pytest.fixture
def hb(tmp_path) -> Cli:
    c = Cli(tmp_path)
    c.config.write_text(HEARTBEATS)
    return c


def pings(cli: Cli) -> list[tuple]:
    return rows(cli.db, "SELECT heartbeat, at, kind, exit_code, output FROM pings ORDER BY id")


def test_ping_records_and_heartbeats_lists(hb):
    assert hb("ping", "worker", now=T0) == Result(0, "", "")
    assert hb("ping", "nightly_backup", "--start", now=T0 + MINUTE).code == 0
    failed = hb("ping", "nightly_backup", "--fail", "--exit-code", "3", "--message", "disk\nfull", now=T0 + 2 * MINUTE)
    assert failed == Result(0, "", "")
    assert pings(hb) == [
        ("worker", T0, "success", None, None),
        ("nightly_backup", T0 + MINUTE, "start", None, None),
        ("nightly_backup", T0 + 2 * MINUTE, "fail", 3, "disk\nfull"),
    ]
    listed = hb("heartbeats", "--json", now=T0 + 5 * MINUTE)
    assert listed.code == 0
    assert listed.json() == [
        {
            "name": "nightly_backup",
            "state": "failed",
            "lastPingAt": T0 + 2 * MINUTE,
            "nextExpectedAt": berlin("2025-11-27T02:30"),
            "lastExitCode": 3,
        },
        {"name": "worker", "state": "up", "lastPingAt": T0, "nextExpectedAt": T0 + 10 * MINUTE, "lastExitCode": None},
    ]
    table = hb("heartbeats", now=T0 + 11 * MINUTE)
    assert table.code == 0
    assert [line.rstrip() for line in table.out.splitlines()[4:6]] == [
        " nightly_backup  failed  2025-11-26 12:02:00  2025-11-27 01:30:00  3",
        " worker          up      2025-11-26 12:00:00  2025-11-26 12:10:00  -",
    ]


def test_a_ping_for_an_unknown_heartbeat_is_a_usage_error_and_records_nothing(hb):
    assert hb("ping", "worker", now=T0).code == 0
    result = hb("ping", "nightly_bakup", now=T0)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        f"error: unknown heartbeat 'nightly_bakup' in {hb.config}\n"
        "hint: heartbeats: nightly_backup, worker (add it under heartbeats: in rules.yaml)\n"
    )
    assert len(pings(hb)) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--start", "--fail"), "error: give --start or --fail, not both\n"),
        (("--exit-code", "2"), "error: --exit-code and --message go with --fail\n"),
        (("--start", "--", "true"), "error: a wrapped command (after --) pings its own start and outcome"),
    ],
)
def test_ping_usage_errors(hb, args, message):
    result = hb("ping", "worker", *args)
    assert (result.code, result.out) == (2, "") and result.err.startswith(message)
    assert not hb.db.exists() or pings(hb) == []


def test_ping_bad_values_and_what_typer_explains(hb):
    result = hb("ping", "worker", "--exit-code", "300", "--fail")
    assert result == Result(2, "", "error: an exit code is a whole number from 0 to 255, not 300\n")
    result = hb("ping", "worker", "--fail", "--exit-code", "x")
    assert result.code == 2 and "Invalid value for '--exit-code'" in result.err
    assert hb("ping").code == 2 and hb("ping", "--help").code == 0
    assert not hb.db.exists()


def test_check_fires_a_late_heartbeat_and_the_next_success_resolves_it(hb):
    assert hb("ping", "worker", now=T0).code == 0
    quiet = hb("check", "--json", now=T0 + 20 * MINUTE)  # 10m + grace 10m: not yet late
    assert (quiet.code, quiet.json()["fired"]) == (0, [])
    fired = hb("check", "--json", now=T0 + 20 * MINUTE + 1)
    alert_id = f"heartbeat_worker_{T0 + 20 * MINUTE + 1}"
    assert (fired.code, fired.json()["fired"]) == (0, [alert_id])
    shown = hb("show", alert_id, "--json").json()
    assert {k: shown[k] for k in ("type", "severity", "title", "description", "ruleId", "status")} == {
        "type": "heartbeat",
        "severity": "high",
        "title": "Heartbeat worker",
        "description": "worker has not reported",
        "ruleId": "heartbeat_worker",
        "status": "firing",
    }
    assert shown["metadata"]["metrics"] == {"lastPingAt": T0, "expectedAt": T0 + 10 * MINUTE}
    assert hb("ping", "worker", now=T0 + 25 * MINUTE).code == 0
    resolved = hb("check", "--json", now=T0 + 26 * MINUTE)
    assert resolved.json()["resolved"] == [alert_id]
    assert hb("show", alert_id, "--json").json()["metadata"]["resolvedMetrics"] == {
        "lastPingAt": T0 + 25 * MINUTE,
        "expectedAt": T0 + 35 * MINUTE,
    }


def test_a_failure_fires_with_its_exit_code_and_output(hb):
    hb("ping", "nightly_backup", "--start", now=T0)
    hb("ping", "nightly_backup", "--fail", "--exit-code", "2", "--message", "pg_dump: error", now=T0 + MINUTE)
    fired = hb("check", now=T0 + 2 * MINUTE)
    alert_id = f"heartbeat_nightly_backup_{T0 + 2 * MINUTE}"
    assert fired.code == 0 and fired.out.startswith(
        f"FIRED     {alert_id} [critical] Heartbeat nightly_backup: The nightly backup has not reported\n"
    )
    shown = hb("show", alert_id, "--json").json()
    assert shown["runbookUrl"] == "https://wiki.example.com/runbooks/backup"
    assert shown["metadata"]["metrics"] == {
        "lastPingAt": T0 + MINUTE,
        "expectedAt": berlin("2025-11-27T02:30"),
        "exitCode": 2,
        "output": "pg_dump: error",
    }


def test_heartbeats_are_evaluated_when_the_metrics_read_fails(hb, tmp_path):
    hb.config.write_text(
        HEARTBEATS + "rules:\n  - {id: cpu, name: CPU, type: performance, severity: high, when: cpu > 90}\n"
    )
    hb("ping", "worker", now=T0)
    result = hb("check", "--metrics-file", str(tmp_path / "missing.json"), "--json", now=T0 + HOUR)
    assert result.code == 3
    assert result.json()["fired"] == [f"heartbeat_worker_{T0 + HOUR}"]


def test_a_heartbeats_only_config_needs_no_metrics_and_the_first_check_starts_alert_if_never(hb):
    hb.config.write_text(HEARTBEATS.replace("every: 10m", "every: 10m\n    alert_if_never: true"))
    assert hb("check", "--dry-run", now=T0).code == 0
    assert not hb.db.exists()  # a dry run writes nothing
    assert hb("check", "--json", now=T0 + MINUTE).json()["fired"] == []
    assert rows(hb.db, "SELECT name, first_seen_at FROM heartbeats ORDER BY name") == [
        ("nightly_backup", T0 + MINUTE),
        ("worker", T0 + MINUTE),
    ]
    assert hb("check", "--json", now=T0 + 21 * MINUTE).json()["fired"] == []
    assert hb("check", "--json", now=T0 + 21 * MINUTE + 1).json()["fired"] == [
        f"heartbeat_worker_{T0 + 21 * MINUTE + 1}"
    ]


def test_pings_are_bounded_per_heartbeat_and_pruned_with_the_rest(hb):
    from pantry_alert.store import open_store
    from pantry_alert.store.pings import MAX_PINGS, record

    assert MAX_PINGS == 1000
    with open_store(hb.db) as store:
        for i in range(MAX_PINGS + 5):
            record(store, "worker", "success", T0 + i, None, None)
        record(store, "nightly_backup", "success", T0, None, None)
    assert rows(hb.db, "SELECT heartbeat, COUNT(*), MIN(at), MAX(at) FROM pings GROUP BY heartbeat") == [
        ("nightly_backup", 1, T0, T0),
        ("worker", MAX_PINGS, T0 + 5, T0 + MAX_PINGS + 4),
    ]
    before = hb("heartbeats", "--json", now=T0 + 8 * DAY).json()
    result = hb("prune", now=T0 + 8 * DAY)  # retention 7d: every ping goes
    assert result.code == 0 and "  heartbeat pings           1001\n" in result.out
    assert pings(hb) == []
    assert hb("heartbeats", "--json", now=T0 + 8 * DAY).json() == before  # the states do not depend on them


# ------------------------------------------------------------------ alerts live as any alert does


def test_a_late_heartbeat_is_acknowledged_and_silenced_like_any_rule(world):
    world.cli.config.write_text(
        "heartbeats:\n  backup:\n    every: 1h\n    grace: 10m\n    cooldown: 30m\n    channels: [webhook]\n"
    )
    cli = world.cli
    assert cli("ping", "backup", now=T0).code == 0
    late = T0 + 70 * MINUTE + 1
    alert_id = f"heartbeat_backup_{late}"
    assert cli("check", "--json", now=late).json()["fired"] == [alert_id]
    assert cli("ack", alert_id, "--for", "1h", now=late + MINUTE).code == 0
    assert cli("check", "--json", now=late + 31 * MINUTE).json()["reminded"] == []  # acknowledged: no reminder
    assert cli("check", "--json", now=late + 61 * MINUTE).json()["reminded"] == [alert_id]  # the ack ran out
    added = cli("silence", "add", "heartbeat_backup", "--for", "2h", "--by", "ops", now=late + 62 * MINUTE)
    assert added.code == 0, added.err
    assert cli("check", "--json", now=late + 92 * MINUTE).json()["notifications"]["sent"] == 0  # silenced
    assert cli("ping", "backup", now=late + 93 * MINUTE).code == 0
    assert cli("check", "--json", now=late + 94 * MINUTE).json()["resolved"] == [alert_id]
    assert [r.body["event"] for r in world.hook.received] == ["firing", "reminder"]  # no resolved notice: silenced
    assert [r.body["alert"]["metadata"]["metrics"] for r in world.hook.received] == [
        {"lastPingAt": T0, "expectedAt": T0 + HOUR}
    ] * 2


# ------------------------------------------------------------------ rules.yaml


def test_heartbeat_settings_are_checked_with_their_lines(hb):
    hb.config.write_text(
        "api:\n"
        "  ping_key: short\n"
        "heartbeats:\n"
        "  Bad-Name:\n"
        "    every: 1h\n"
        "  both:\n"
        "    every: 1h\n"
        '    schedule: "* * * * *"\n'
        "    channels: [console]\n"
        "  cron:\n"
        '    schedule: "61 * * * *"\n'
        "    channels: [console]\n"
        "  seconds:\n"
        '    schedule: "0 0 * * * *"\n'
        "    channels: [console]\n"
        "  nothing:\n"
        "    channels: [pager]\n"
        "    grace: soon\n"
        "    timezone: Mars/Olympus\n"
        "    severity: urgent\n"
        "    alert_if_never: yes please\n"
        "    color: red\n"
        "  nochannels:\n"
        "    every: 1h\n"
        "rules:\n"
        "  - {id: heartbeat_nochannels, name: X, type: error, severity: low, when: x > 1}\n"
    )
    result = hb("rules", "validate")
    path = hb.config
    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines()[1:-1] == [
        f"  {path}:2: api.ping_key: must be a string of at least 16 characters (e.g. ${{PANTRY_ALERT_PING_KEY}}, "
        "made with `openssl rand -hex 16`); the value is not shown",
        f"  {path}:4: heartbeats.Bad-Name: heartbeat name 'Bad-Name' must match [a-z0-9_]+",
        f"  {path}:6: heartbeats.both: give schedule (cron) or every (a duration), not both",
        f"  {path}:11: heartbeats.cron.schedule: '61 * * * *' is not a valid cron schedule: Bad minute",
        f"  {path}:14: heartbeats.seconds.schedule: must be a cron schedule of five fields "
        "(minute hour day-of-month month day-of-week), e.g. '30 2 * * *'",
        f"  {path}:22: heartbeats.nothing.color: unknown key 'color' (allowed: alert_if_never, channels, cooldown, "
        "description, every, grace, max_runtime, runbook_url, schedule, severity, timezone)",
        f"  {path}:16: heartbeats.nothing: needs schedule (cron, e.g. '30 2 * * *') or every (a duration, e.g. 1h)",
        f"  {path}:19: heartbeats.nothing.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like "
        "Europe/Berlin)",
        f"  {path}:20: heartbeats.nothing.severity: severity 'urgent' must be one of low, medium, high, critical",
        f"  {path}:18: heartbeats.nothing.grace: 'soon' is not a duration (use e.g. 30s, 15m, 2h, 7d)",
        f"  {path}:21: heartbeats.nothing.alert_if_never: must be true or false, not 'yes please'",
        f"  {path}:17: heartbeats.nothing.channels: unknown channel 'pager' (channels: email, slack, webhook, "
        "alertmanager, console, pagerduty, ntfy, teams, telegram, discord, apprise)",
        f"  {path}:23: heartbeats.nochannels: needs channels: the channels its alert goes to, e.g. [email]",
        f"  {path}:26: rule 'heartbeat_nochannels': rules.0.id: rule id 'heartbeat_nochannels' is the alert rule "
        "of heartbeat 'nochannels'; choose another id",
    ]


def test_rules_validate_counts_heartbeats_and_warns_of_their_unconfigured_channels(hb):
    quiet = "escalation: {add_channels: [console]}\n"
    hb.config.write_text(HEARTBEATS + quiet)
    database = f"state database: {hb.db}\n"
    assert hb("rules", "validate") == Result(0, f"{hb.config}: valid (0 rules, 2 heartbeats)\n", database)
    hb.config.write_text(HEARTBEATS.replace("channels: [console]", "channels: [email]", 1) + quiet)
    result = hb("rules", "validate")
    assert result == Result(
        1,
        f"{hb.config}: valid (0 rules, 2 heartbeats), but 1 route(s) to unconfigured channels\n",
        database
        + f"warning: {hb.config}: rule 'heartbeat_nightly_backup' routes to channel 'email', which is not configured "
        "(set its channels: section or its environment variables)\n",
    )


def test_ping_reads_state_through_the_whole_loader_when_it_is_not_plain(hb, tmp_path):
    from pantry_alert.config import DEFAULT_LOCK_TIMEOUT_MS
    from pantry_alert.store import DEFAULT_WAIT_MS

    assert DEFAULT_WAIT_MS == DEFAULT_LOCK_TIMEOUT_MS  # a ping without state.lock_timeout waits as long
    hb.config.write_text(HEARTBEATS + "state:\n  path: ${STATE_DIR}/jobs.db\n  lock_timeout: 5s\n")
    assert hb("ping", "worker", env={"PANTRY_ALERT_DB": "", "STATE_DIR": str(tmp_path)}).code == 0
    assert rows(tmp_path / "jobs.db", "SELECT heartbeat, kind FROM pings") == [("worker", "success")]
    unset = hb("ping", "worker", env={"PANTRY_ALERT_DB": ""})
    assert unset.code == 2
    assert f"{hb.config}:16: state.path: environment variable ${{STATE_DIR}} is not set" in unset.err
    hb.config.write_text(HEARTBEATS + "state:\n  lock_timeout: soon\n")
    bad = hb("ping", "worker")
    assert bad.code == 2 and f"{hb.config}:16: state.lock_timeout: 'soon' is not a duration" in bad.err


def test_each_check_keeps_the_heartbeat_facts_in_the_metric_history(hb):
    assert hb("ping", "worker", now=T0).code == 0
    assert hb("check", now=T0 + MINUTE).code == 0
    assert hb("ping", "nightly_backup", "--fail", "--exit-code", "3", now=T0 + 2 * MINUTE).code == 0
    assert hb("check", now=T0 + 3 * MINUTE).code == 0
    since = ["--since", "1h"]
    worker = hb("metrics", "heartbeats.worker.lastPingAt", *since, "--json", now=T0 + 4 * MINUTE)
    assert worker.json() == [{"at": T0 + MINUTE, "value": T0}, {"at": T0 + 3 * MINUTE, "value": T0}]
    expected = hb("metrics", "heartbeats.worker.expectedAt", *since, "--json", now=T0 + 4 * MINUTE)
    assert [s["value"] for s in expected.json()] == [T0 + 10 * MINUTE, T0 + 10 * MINUTE]
    failed = hb("metrics", "heartbeats.nightly_backup.exitCode", *since, "--json", now=T0 + 4 * MINUTE)
    assert failed.json() == [{"at": T0 + 3 * MINUTE, "value": 3}]


def test_the_heartbeats_columns_are_the_ping_records_fields_in_order():
    assert stored._COLUMNS == PingRecord._fields

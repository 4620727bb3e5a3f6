"""Heartbeat schedules and states, as pure functions: cron and every, in a zone, across DST,
with grace; new, running, failed, late and their precedence.  The commands, check and the
config section: test_heartbeats.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import MINUTE, T0
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


def test_the_heartbeats_columns_are_the_ping_records_fields_in_order():
    assert stored._COLUMNS == PingRecord._fields

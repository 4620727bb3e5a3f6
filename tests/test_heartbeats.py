"""Heartbeats through the faces: the ping and heartbeats commands, their alerts through check
(acknowledged and silenced like any alert), pruning, the metric history, and the config
section's checks.  The schedules and states themselves: test_heartbeat_schedules.py."""

from __future__ import annotations

import pytest
from conftest import MINUTE, T0, Cli, Result, rows
from test_heartbeat_schedules import DAY, HOUR, berlin

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

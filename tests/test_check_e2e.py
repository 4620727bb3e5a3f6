"""`check` end to end: the command line on real SQLite files."""

from __future__ import annotations

import json
import os
import stat

from conftest import BREACH_METRICS, HEALTHY_METRICS, MINUTE, SIMPLE_CONFIG, T0, rows

from pantry_alert.store.schema import SCHEMA_VERSION

BREACH_IDS = [
    f"{rule}_{T0}"
    for rule in (
        "high_response_time",
        "high_error_rate",
        "memory_usage_high",
        "database_connection_issues",
        "failed_login_attempts",
    )
]


def test_shipped_rules_fire_on_the_breach_metrics_with_exact_lines(cli):
    result = cli.check(BREACH_METRICS)
    assert result.code == 0, result.err
    fired = [line for line in result.out.splitlines() if line.startswith("FIRED")]
    assert fired == [
        f"FIRED     high_response_time_{T0} [high] High Response Time: 95th percentile response time is 2500.00ms (threshold: 2000ms)",
        f"FIRED     high_error_rate_{T0} [critical] High Error Rate: Error rate is 7.34% (threshold: 5%)",
        f"FIRED     memory_usage_high_{T0} [medium] High Memory Usage: Memory usage is 90.0% (threshold: 85%)",
        f"FIRED     database_connection_issues_{T0} [critical] Database Connection Issues: 12 database errors in the last hour (threshold: 10)",
        f"FIRED     failed_login_attempts_{T0} [high] Multiple Failed Login Attempts: 75 failed login attempts in the last hour (threshold: 50)",
    ]
    # the console channel printed each alert after the change lines
    assert "[CRITICAL] Kitchen Pantry CRM Alert: High Error Rate\n  Error rate is 7.34% (threshold: 5%)\n" in result.out
    assert "warning: channel 'email' is not configured: 4 notification(s) recorded as skipped" in result.err
    alerts = cli("list", "--json").json()
    assert sorted(a["id"] for a in alerts) == sorted(BREACH_IDS)
    error_rate = next(a for a in alerts if a["ruleId"] == "high_error_rate")
    assert error_rate == {
        "id": f"high_error_rate_{T0}",
        "type": "error",
        "severity": "critical",
        "title": "High Error Rate",
        "description": "Error rate is 7.34% (threshold: 5%)",
        "timestamp": T0,
        "metadata": {"rule": "high_error_rate", "metrics": {"errorRate": 0.0734}, "escalated": False, "alertCount": 1},
        "resolved": False,
        "resolvedAt": None,
        "ruleId": "high_error_rate",
        "status": "firing",
        "count": 1,
        "lastSeenAt": T0,
        "acknowledgedAt": None,
        "acknowledgedBy": None,
        "resolvedBy": None,
        "escalated": False,
        "silenced": False,
        "inhibited": False,
        "runbookUrl": None,
        "labels": {},
    }
    statuses = rows(
        cli.db, "SELECT channel, status, COUNT(*) FROM notifications GROUP BY channel, status ORDER BY channel"
    )
    assert statuses == [
        ("console", "sent", 5),
        ("email", "skipped", 4),
        ("slack", "skipped", 5),
        ("webhook", "skipped", 2),
    ]


def test_json_summary_and_console_goes_to_stderr(cli):
    result = cli.check(BREACH_METRICS, "--json")
    assert result.code == 0
    assert result.json() == {
        "fired": BREACH_IDS,
        "reminded": [],
        "escalated": [],
        "resolved": [],
        "errors": [],
        "notifications": {"sent": 5, "failed": 0, "deferred": 0, "skipped": 11},
    }
    assert "[HIGH] Kitchen Pantry CRM Alert: High Response Time" in result.err


def test_second_run_deduplicates_and_quiet_run_prints_nothing(cli):
    cli.check(BREACH_METRICS)
    result = cli.check(BREACH_METRICS, now=T0 + MINUTE)
    assert (result.code, result.out) == (0, "")
    alerts = cli("list", "--json", now=T0 + MINUTE).json()
    assert {a["count"] for a in alerts} == {2} and {a["lastSeenAt"] for a in alerts} == {T0 + MINUTE}
    assert rows(cli.db, "SELECT COUNT(*) FROM alerts") == [(5,)]


def test_reminders_and_escalation_across_hours(simple):
    simple.check({"cpu": 95})
    result = simple.check({"cpu": 95}, "--json", now=T0 + 10 * MINUTE)
    assert (result.json()["reminded"], result.json()["escalated"]) == ([f"cpu_high_{T0}"], [])
    result = simple.check({"cpu": 95}, now=T0 + 20 * MINUTE)
    assert result.out.startswith(f"ESCALATED cpu_high_{T0} [critical] CPU High: CPU at 95%\n")
    assert "[CRITICAL] [ESCALATED] Kitchen Pantry CRM Alert: CPU High" in result.out
    result = simple.check({"cpu": 95}, now=T0 + 30 * MINUTE)
    assert result.out.startswith(f"REMINDED  cpu_high_{T0} [critical] CPU High: CPU at 95%\n")
    alert = simple("list", "--json").json()[0]
    assert (alert["severity"], alert["escalated"], alert["count"]) == ("critical", True, 4)
    kinds = rows(simple.db, "SELECT channel, kind, status FROM notifications ORDER BY id")
    assert kinds == [
        ("console", "firing", "sent"),
        ("console", "reminder", "sent"),
        ("console", "escalated", "sent"),
        ("webhook", "escalated", "skipped"),
        ("console", "reminder", "sent"),
        ("webhook", "reminder", "skipped"),
    ]


def test_auto_resolve_sends_resolved_notice(simple):
    simple.check({"cpu": 95})
    result = simple.check({"cpu": 10}, now=T0 + 5 * MINUTE)
    assert result.code == 0
    assert result.out.startswith(f"RESOLVED  cpu_high_{T0} [high] CPU High: CPU at 95%\n")
    assert "[RESOLVED] Kitchen Pantry CRM Alert: CPU High" in result.out
    assert simple("list", "--json").json() == []
    assert rows(simple.db, "SELECT status, resolved_at, resolved_by FROM alerts") == [
        ("resolved", T0 + 5 * MINUTE, "auto")
    ]


def test_manual_resolve_then_cooldown_then_new_alert(simple):
    simple.check({"cpu": 95})
    result = simple("resolve", f"cpu_high_{T0}", "--by", "alice", "--note", "restarted", now=T0 + MINUTE)
    assert (result.code, result.out) == (0, "Alert resolved\n")
    result = simple("resolve", f"cpu_high_{T0}", now=T0 + MINUTE)
    assert (result.code, result.err) == (1, "error: Alert not found or already resolved\n")
    result = simple("resolve", "nope_1", now=T0 + MINUTE)
    assert (result.code, result.err) == (1, "error: Alert not found or already resolved\n")
    # the next check sends the recorded resolved notice; still breaching but inside the cooldown: no new alert
    result = simple.check({"cpu": 95}, now=T0 + 2 * MINUTE)
    assert "[RESOLVED] Kitchen Pantry CRM Alert: CPU High" in result.out and "FIRED" not in result.out
    assert rows(simple.db, "SELECT resolved_by FROM alerts") == [("alice",)]
    result = simple.check({"cpu": 95}, now=T0 + 10 * MINUTE)
    assert result.out.startswith(f"FIRED     cpu_high_{T0 + 10 * MINUTE} ")


def test_fail_on_exit_5_and_bad_severity_exit_2(cli):
    assert cli.check(BREACH_METRICS, "--fail-on", "critical").code == 5
    result = cli.check(HEALTHY_METRICS, "--fail-on", "low", now=T0 + MINUTE)
    assert result.code == 0
    result = cli.check(BREACH_METRICS, "--fail-on", "urgent")
    assert result.code == 2 and "--fail-on: 'urgent' must be one of low, medium, high, critical" in result.err


def test_dry_run_writes_nothing_and_sends_nothing(cli):
    result = cli.check(BREACH_METRICS, "--dry-run")
    assert result.code == 0
    assert result.out.splitlines()[0].startswith(f"would be FIRED     high_response_time_{T0} [high]")
    assert result.out.endswith("dry run: nothing written, 5 notification(s) not sent\n")
    assert "Kitchen Pantry CRM Alert" not in result.out  # console channel not used
    assert not cli.db.exists()
    cli.check(BREACH_METRICS)
    before = cli.db.read_bytes()
    result = cli.check(HEALTHY_METRICS, "--dry-run", "--json", now=T0 + MINUTE)
    assert result.json()["resolved"] == BREACH_IDS and result.json()["dryRun"] is True
    assert cli("list", "--json").json() != [] and cli.db.read_bytes() == before


def test_unevaluable_rule_exit_1_others_still_run(cli):
    metrics = dict(BREACH_METRICS)
    del metrics["errorRate"]
    result = cli.check(metrics)
    assert result.code == 1
    assert (
        "warning: rule 'high_error_rate' could not be evaluated: metric 'errorRate' is missing from the metrics document"
        in result.err
    )
    assert len([line for line in result.out.splitlines() if line.startswith("FIRED")]) == 4


def test_description_failure_exit_1_alert_still_fires(simple):
    simple.config.write_text(SIMPLE_CONFIG.format(severity="low", cooldown="5m").replace("{{ cpu }}", "{{ nope }}"))
    result = simple.check({"cpu": 99})
    assert result.code == 1
    assert result.out.startswith(f"FIRED     cpu_high_{T0} [low] CPU High: Alert condition met\n")
    assert "warning: rule 'cpu_high': description template failed" in result.err


def test_metrics_errors_exit_3_and_builtin_alert_after_three(simple):
    missing = simple.tmp / "missing.json"
    for i in range(2):
        result = simple("check", "--metrics-file", str(missing), now=T0 + i * MINUTE)
        assert result.code == 3 and f"error: metrics file {missing} not found" in result.err
        assert result.out == ""
    result = simple("check", "--metrics-file", str(missing), now=T0 + 2 * MINUTE)
    assert result.code == 3
    assert result.out.startswith(
        f"FIRED     metrics_source_unavailable_{T0 + 2 * MINUTE} [high] Metrics Source Unavailable: "
        f"Metrics could not be read 3 times in a row: metrics file {missing} not found\n"
    )
    result = simple.check({"cpu": 1}, now=T0 + 3 * MINUTE)
    assert result.code == 0 and result.out.startswith(f"RESOLVED  metrics_source_unavailable_{T0 + 2 * MINUTE}")


def test_malformed_json_and_non_object_exit_3_names_position(simple):
    bad = simple.metrics('{"cpu": 95,\n "x": }', "bad.json")
    result = simple("check", "--metrics-file", str(bad))
    assert result.code == 3
    assert f"error: metrics file {bad}: malformed JSON at line 2, column 7: Expecting value" in result.err
    arr = simple.metrics("[1, 2]", "arr.json")
    result = simple("check", "--metrics-file", str(arr))
    assert result.code == 3 and "the metrics document must be a JSON object, got list" in result.err


def test_metrics_from_stdin(simple):
    result = simple("check", "--metrics-file", "-", input=json.dumps({"cpu": 97}))
    assert result.code == 0 and result.out.startswith(f"FIRED     cpu_high_{T0} [high] CPU High: CPU at 97%")


def test_database_created_0600_in_wal_mode(simple):
    simple.check({"cpu": 1})
    assert stat.S_IMODE(os.stat(simple.db).st_mode) == 0o600
    assert rows(simple.db, "PRAGMA journal_mode") == [("wal",)]
    assert rows(simple.db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_runs_are_logged(simple):
    simple.check({"cpu": 95})
    simple.check({"cpu": 95}, now=T0 + MINUTE)
    logged = rows(simple.db, "SELECT started_at, exit_code, summary FROM runs ORDER BY id")
    assert [(r[0], r[1]) for r in logged] == [(T0, 0), (T0 + MINUTE, 0)]
    assert json.loads(logged[0][2])["fired"] == [f"cpu_high_{T0}"]


def test_now_env_accepts_iso_and_rejects_garbage(simple):
    result = simple.check({"cpu": 95}, now="2025-11-26T12:00:00+00:00")
    assert result.out.startswith(f"FIRED     cpu_high_{T0} ")
    path = simple.metrics({"cpu": 95})
    result = simple("check", "--metrics-file", str(path), now="yesterday")
    assert result.code == 2 and "PANTRY_ALERT_NOW='yesterday' is not an ISO-8601 timestamp" in result.err


def test_unparseable_numbers_and_deep_nesting_are_exit_3(simple):
    huge = simple.metrics('{"cpu": ' + "9" * 5000 + "}", "huge.json")
    result = simple("check", "--metrics-file", str(huge))
    assert result.code == 3 and f"error: metrics file {huge}: cannot parse the JSON: Exceeds the limit" in result.err
    deep = simple.metrics("[" * 100_000 + "]" * 100_000, "deep.json")
    result = simple("check", "--metrics-file", str(deep), now=T0 + MINUTE)
    assert (result.code, result.err) == (3, f"error: metrics file {deep}: the JSON is nested too deeply\n")
    assert rows(
        simple.db, "SELECT consecutive_breaches FROM rule_state WHERE rule_id = 'metrics_source_unavailable'"
    ) == [(2,)]


def test_json_summary_names_a_failed_description(simple):
    simple.config.write_text(SIMPLE_CONFIG.format(severity="low", cooldown="5m").replace("{{ cpu }}", "{{ nope }}"))
    result = simple.check({"cpu": 99}, "--json")
    assert result.code == 1
    assert result.json()["errors"] == [
        {
            "rule": "cpu_high",
            "error": "description template failed (UndefinedError: 'nope' is undefined); used 'Alert condition met'",
        }
    ]


def test_dry_run_with_odd_characters_in_the_db_path_writes_nothing(simple, tmp_path):
    db = tmp_path / "h#x?y%z" / "state.db"
    result = simple.check({"cpu": 95}, "--dry-run", env={"PANTRY_ALERT_DB": str(db)})
    assert result.code == 0 and result.out.startswith("would be FIRED")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".json")) == ["rules.yaml"]


def test_an_empty_file_given_as_database_is_adopted_with_mode_0600(simple):
    simple.db.touch(mode=0o644)
    os.chmod(simple.db, 0o644)
    assert simple.check({"cpu": 95}).code == 0
    assert stat.S_IMODE(os.stat(simple.db).st_mode) == 0o600

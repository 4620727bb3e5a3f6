"""``rules backtest``: a recorded timeline replayed with the same rules matches what really fired,
a candidate changes the answer, and the replay writes and sends nothing."""

from __future__ import annotations

import pytest
from conftest import HEALTHY_METRICS, MINUTE, ROOT, T0, lines, ok

RUNS = 70


def metrics_at(minute: int) -> dict:
    """The healthy metrics with breaches: errors 10-29 (peaking at 20), logins 40-42, memory 50-64."""
    doc = {**HEALTHY_METRICS, "memoryUsage": {"current": {"heapUsed": 410, "heapTotal": 1000}}}
    if 10 <= minute < 30:
        doc["errorRate"] = 0.06 + (10 - abs(20 - minute)) / 1000
    if 40 <= minute <= 42:
        doc["failedLogins"] = 60 + minute
    if 50 <= minute < 65:
        doc["memoryUsage"]["current"]["heapUsed"] = 900
    return doc


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The shipped rules after one check a minute for 70 minutes (console only configured)."""
    from conftest import Cli

    cli = Cli(tmp_path_factory.mktemp("recorded"))
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    for minute in range(RUNS):
        ok(cli.check(metrics_at(minute), now=T0 + minute * MINUTE))
    return cli


NOW = T0 + RUNS * MINUTE


def snapshot(cli) -> tuple[bytes, bytes]:
    """The database file and what its write-ahead log holds (a reader of a WAL database may leave an
    empty log and the -shm index beside it: neither holds data)."""
    wal = cli.tmp / "state.db-wal"
    return cli.db.read_bytes(), wal.read_bytes() if wal.exists() else b""


@pytest.mark.slow
def test_replaying_the_same_rules_matches_what_fired_and_changes_nothing(recorded):
    cli = recorded
    before = snapshot(cli)
    result = cli("rules", "backtest", "--since", "2h", "--json", now=NOW)
    ok(result)
    assert snapshot(cli) == before
    data = result.json()
    assert (data["since"], data["until"], data["runs"]) == (NOW - 120 * MINUTE, NOW, RUNS)
    by_rule = {r["rule"]: r for r in data["rules"]}
    assert list(by_rule) == [
        "high_response_time",
        "high_error_rate",
        "memory_usage_high",
        "database_connection_issues",
        "failed_login_attempts",
    ]
    for rule in by_rule.values():
        actual = [{k: v for k, v in a.items() if k != "id"} for a in rule["actual"]]
        assert rule["wouldFire"] == actual, rule["rule"]
        assert rule["notRecorded"] == []
    errors = by_rule["high_error_rate"]
    assert errors["actual"] == [
        {
            "id": f"high_error_rate_{T0 + 10 * MINUTE}",
            "start": T0 + 10 * MINUTE,
            "end": T0 + 30 * MINUTE,
            "duration": 20 * MINUTE,
            "peak": pytest.approx(0.07),
            # fired, then a reminder each 5-minute cooldown (10 + 5, 20, 25), and resolved
            "notifications": {"console": 5},
        }
    ]
    logins = by_rule["failed_login_attempts"]["wouldFire"]
    assert [(e["start"], e["end"], e["peak"]) for e in logins] == [(T0 + 40 * MINUTE, T0 + 43 * MINUTE, 102)]
    memory = by_rule["memory_usage_high"]["wouldFire"]
    assert [(e["start"], e["end"], e["peak"]) for e in memory] == [(T0 + 50 * MINUTE, T0 + 65 * MINUTE, 0.9)]
    assert by_rule["high_response_time"]["wouldFire"] == by_rule["database_connection_issues"]["wouldFire"] == []


@pytest.mark.slow
def test_a_candidate_threshold_and_an_unrecorded_path_change_the_answer(recorded):
    cli = recorded
    candidate = cli.tmp / "candidate.yaml"
    text = (ROOT / "rules.yaml").read_text()
    text = text.replace("when: errorRate > 0.05", "when: errorRate > 0.065")
    text = text.replace("when: databaseErrors > 10", "when: databaseErrorz > 10")
    candidate.write_text(text)
    before = snapshot(cli)
    args = ("rules", "backtest", "--candidate", str(candidate), "--rule", "high_error_rate")
    result = cli(*args, "--rule", "database_connection_issues", "--json", now=NOW)
    ok(result)
    assert snapshot(cli) == before
    errors, database = result.json()["rules"]
    # 0.06 + (10 - |20 - m|) / 1000 > 0.065 from minute 16 to 24; resolves at 25
    assert [(e["start"], e["end"], e["duration"], e["peak"]) for e in errors["wouldFire"]] == [
        (T0 + 16 * MINUTE, T0 + 25 * MINUTE, 9 * MINUTE, pytest.approx(0.07))
    ]
    assert errors["wouldFire"][0]["notifications"] == {"console": 3}
    assert len(errors["actual"]) == 1
    assert database["notRecorded"] == ["databaseErrorz"] and database["wouldFire"] == []
    text_out = cli(*args, "--rule", "database_connection_issues", now=NOW)
    ok(text_out)
    assert lines(text_out.out) == [
        "Replayed 70 run(s) from 2025-11-19 13:10:00 UTC to 2025-11-26 13:10:00 UTC (nothing written, nothing sent)",
        "",
        "high_error_rate",
        "  would fire: 1",
        "    2025-11-26 12:16:00 UTC -> 2025-11-26 12:25:00 UTC (9m), peak 0.07, notifications: console 3",
        "  actually fired: 1",
        f"    high_error_rate_{T0 + 10 * MINUTE}: 2025-11-26 12:10:00 UTC -> 2025-11-26 12:30:00 UTC (20m), "
        "peak 0.07, notifications: console 5",
        "",
        "database_connection_issues",
        "  reads databaseErrorz, which was never recorded: no run can show it",
        "  would fire: 0",
        "  actually fired: 0",
    ]
    unknown = cli("rules", "backtest", "--rule", "no_such_rule", now=NOW)
    assert unknown.code == 2 and "no rule 'no_such_rule'" in unknown.err


def test_a_window_rule_replays_over_the_stored_samples(simple):
    cli = simple
    cli.config.write_text("rules:\n  - {id: cpu_high, name: CPU, type: performance, severity: low, when: cpu > 90}\n")
    for minute, cpu in enumerate([10, 50, 95, 97, 20, 10, 10]):
        ok(cli.check({"cpu": cpu}, now=T0 + minute * MINUTE))
    candidate = cli.tmp / "candidate.yaml"
    candidate.write_text(
        "rules:\n  - {id: cpu_high, name: CPU, type: performance, severity: low, when: 'avg_over(cpu, \"3m\") > 60'}\n"
    )
    result = cli("rules", "backtest", "--candidate", str(candidate), "--json", now=T0 + 7 * MINUTE)
    ok(result)
    (rule,) = result.json()["rules"]
    # averages: 10, 30, 51.7, 80.7 (fires at 3), 70.7, 42.3 (resolves at 5)
    assert [(e["start"], e["end"], round(e["peak"], 3)) for e in rule["wouldFire"]] == [
        (T0 + 3 * MINUTE, T0 + 5 * MINUTE, 80.667)
    ]
    assert [(e["start"], e["end"]) for e in rule["actual"]] == [(T0 + 2 * MINUTE, T0 + 4 * MINUTE)]


def test_a_database_from_before_the_history_replays_nothing_and_is_left_as_it_was(simple):
    import sqlite3

    cli = simple
    cli.config.write_text("rules:\n  - {id: cpu_high, name: CPU, type: performance, severity: low, when: cpu > 90}\n")
    ok(cli.check({"cpu": 95}, now=T0))
    conn = sqlite3.connect(cli.db)
    conn.execute("DROP TABLE metric_samples")  # as a database of the previous schema version has none
    conn.execute("PRAGMA user_version = 4")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = cli.db.read_bytes()
    result = cli("rules", "backtest", "--json", now=T0 + MINUTE)
    ok(result)
    (rule,) = result.json()["rules"]
    assert (result.json()["runs"], rule["wouldFire"], len(rule["actual"])) == (0, [], 1)
    assert cli.db.read_bytes() == before

"""history, show, ack, stats and prune, end to end through the command line.

Time moves only through PANTRY_ALERT_NOW; rows are checked in the SQLite file.
"""

from __future__ import annotations

import pytest
from conftest import BREACH_METRICS, MINUTE, ROOT, T0, Cli, dump, lines, ok, rows

HOUR = 60 * MINUTE
DAY = 24 * HOUR
ALERT_KEYS = {
    "id",
    "type",
    "severity",
    "title",
    "description",
    "timestamp",
    "metadata",
    "resolved",
    "resolvedAt",
    "ruleId",
    "status",
    "count",
    "lastSeenAt",
    "acknowledgedAt",
    "acknowledgedBy",
    "resolvedBy",
    "escalated",
    "silenced",
    "inhibited",
    "runbookUrl",
    "labels",
}
EVENT_KEYS = {"at", "kind", "detail"}
NOTIFICATION_KEYS = {"channel", "kind", "status", "attempts", "error", "sentAt", "createdAt", "nextAttemptAt"}
STATS_KEYS = {
    "total",
    "active",
    "byType",
    "bySeverity",
    "averageResolutionTime",
    "averageAcknowledgeTime",
    "byRule",
    "notifications",
}
NO_NOTIFICATIONS = {"pending": 0, "sent": 0, "failed": 0, "skipped": 0, "deferred": 0, "unknown": 0}
HINT = "hint: `pantry-alert history` lists recent alerts with their ids\n"


def events(shown: dict) -> list[tuple]:
    return [(e["at"], e["kind"], e["detail"]) for e in shown["events"]]


# --------------------------------------------------------------- an incident


def test_incident_fire_remind_ack_resolve_read_back_with_show(simple):
    hot, cool = {"cpu": 95}, {"cpu": 50}
    alert_id = f"cpu_high_{T0}"
    ok(simple.check(hot, now=T0))
    ok(simple.check(hot, now=T0 + 10 * MINUTE))  # cooldown 10m passed: reminder
    ok(simple("ack", alert_id, "--by", "alice", "--note", "on it", now=T0 + 12 * MINUTE), "Alert acknowledged\n")
    quiet = simple.check(hot, "--json", now=T0 + 20 * MINUTE)  # acknowledged: no reminder
    ok(quiet)
    assert quiet.json()["reminded"] == [] and quiet.json()["fired"] == []
    ok(simple.check(cool, now=T0 + 30 * MINUTE))  # recovers: auto-resolved

    shown = simple("show", alert_id, "--json", now=T0 + 31 * MINUTE)
    ok(shown)
    data = shown.json()
    assert set(data) == ALERT_KEYS | {"events", "notifications"}
    assert all(set(e) == EVENT_KEYS for e in data["events"])
    assert all(set(n) == NOTIFICATION_KEYS for n in data["notifications"])
    assert {k: data[k] for k in ALERT_KEYS} == {
        "id": alert_id,
        "type": "performance",
        "severity": "high",
        "title": "CPU High",
        "description": "CPU at 95%",
        "timestamp": T0,
        "metadata": {
            "rule": "cpu_high",
            "metrics": {"cpu": 95},
            "escalated": False,
            "alertCount": 3,
            "resolvedMetrics": {"cpu": 50},
        },
        "resolved": True,
        "resolvedAt": T0 + 30 * MINUTE,
        "ruleId": "cpu_high",
        "status": "resolved",
        "count": 3,
        "lastSeenAt": T0 + 20 * MINUTE,
        "acknowledgedAt": T0 + 12 * MINUTE,
        "acknowledgedBy": "alice",
        "resolvedBy": "auto",
        "escalated": False,
        "silenced": False,
        "inhibited": False,
        "runbookUrl": None,
        "labels": {},
    }
    assert events(data) == [
        (T0, "fired", {"severity": "high", "description": "CPU at 95%", "metrics": {"cpu": 95}}),
        (T0, "notified", {"kind": "firing", "channels": ["console"]}),
        (T0, "delivered", {"channel": "console", "kind": "firing"}),
        (T0 + 10 * MINUTE, "reminded", {"kind": "reminder", "count": 2, "channels": ["console"]}),
        (T0 + 10 * MINUTE, "delivered", {"channel": "console", "kind": "reminder"}),
        (T0 + 12 * MINUTE, "acknowledged", {"by": "alice", "note": "on it", "until": None}),
        (T0 + 30 * MINUTE, "resolved", {"by": "auto"}),
        (T0 + 30 * MINUTE, "notified", {"kind": "resolved", "channels": ["console"]}),
        (T0 + 30 * MINUTE, "delivered", {"channel": "console", "kind": "resolved"}),
    ]
    assert data["notifications"] == [
        {
            "channel": "console",
            "kind": kind,
            "status": "sent",
            "attempts": 1,
            "error": None,
            "sentAt": at,
            "createdAt": at,
            "nextAttemptAt": None,
        }
        for kind, at in (("firing", T0), ("reminder", T0 + 10 * MINUTE), ("resolved", T0 + 30 * MINUTE))
    ]
    # The acknowledgement is stored as the columns the engine reads.
    assert rows(simple.db, "SELECT status, acknowledged_at, acknowledged_by, ack_note, ack_expires_at FROM alerts") == [
        ("resolved", T0 + 12 * MINUTE, "alice", "on it", None)
    ]

    human = simple("show", alert_id, now=T0 + 31 * MINUTE, env={"COLUMNS": "80"})
    ok(human)
    out = lines(human.out)
    assert max(map(len, out)) <= 80
    assert out[0].startswith("╭─ CPU High [high] ─")
    for row in (
        "│ Status        resolved",
        "│ Fired         2025-11-26 12:00:00 UTC",
        "│ Last seen     2025-11-26 12:20:00 UTC (seen 3 times)",
        "│ Acknowledged  2025-11-26 12:12:00 UTC by alice, 12m after firing",
        "│ Resolved      2025-11-26 12:30:00 UTC by auto, 30m after firing",
    ):
        assert any(line.startswith(row + " ") for line in out), row
    timeline = out[out.index("Timeline, 2025-11-26, times in UTC") + 4 : out.index("Notifications") - 1]
    assert timeline == [
        " 12:00:00      0s   fired          high: CPU at 95%",
        " 12:00:00      0s   notified       firing to console",
        " 12:00:00      0s   delivered      firing via console",
        " 12:10:00     10m   reminded       reminder to console (seen 2 times)",
        " 12:10:00     10m   delivered      reminder via console",
        " 12:12:00     12m   acknowledged   by alice: on it",
        " 12:30:00     30m   resolved       by auto",
        " 12:30:00     30m   notified       resolved to console",
        " 12:30:00     30m   delivered      resolved via console",
    ]
    assert out[-4:] == [
        " console   firing     sent         1   12:00:00",
        " console   reminder   sent         1   12:10:00",
        " console   resolved   sent         1   12:30:00",
        "",
    ]


def test_ack_expiry_resumes_reminders_and_first_ack_counts_for_stats(simple):
    hot = {"cpu": 95}
    alert_id = f"cpu_high_{T0}"
    ok(simple.check(hot, now=T0))
    acked = simple("ack", alert_id, "--by", "bob", "--for", "30m", now=T0 + MINUTE)
    ok(acked, "Alert acknowledged\n")
    assert acked.err == (
        "the acknowledgement expires in 30m (2025-11-26 12:31:00 UTC); reminders resume then if it still fires\n"
    )
    again = simple("ack", alert_id, now=T0 + 2 * MINUTE)
    assert (again.code, again.out) == (1, "")
    assert again.err == (
        f"error: Alert {alert_id} is already acknowledged (by bob at 2025-11-26 12:01:00 UTC "
        f"until 2025-11-26 12:31:00 UTC)\nhint: `pantry-alert show {alert_id}` shows its timeline\n"
    )

    during = simple.check(hot, "--json", now=T0 + 15 * MINUTE)  # cooldown passed, but acknowledged
    ok(during)
    assert during.json()["reminded"] == []
    after = simple.check(hot, "--json", now=T0 + 31 * MINUTE)  # the ack expired: reminders resume
    ok(after)
    assert after.json()["reminded"] == [alert_id]

    # A second, short ack that runs out before any check notices it: a new ack replaces it.
    ok(simple("ack", alert_id, "--by", "bob", "--for", "5m", now=T0 + 32 * MINUTE), "Alert acknowledged\n")
    ok(simple("ack", alert_id, "--by", "carol", now=T0 + 40 * MINUTE), "Alert acknowledged\n")
    later = simple.check(hot, "--json", now=T0 + 60 * MINUTE)
    ok(later)
    assert later.json()["reminded"] == []

    shown = simple("show", alert_id, "--json", now=T0 + 61 * MINUTE).json()
    assert [(at, kind, detail) for at, kind, detail in events(shown) if kind != "delivered"] == [
        (T0, "fired", {"severity": "high", "description": "CPU at 95%", "metrics": {"cpu": 95}}),
        (T0, "notified", {"kind": "firing", "channels": ["console"]}),
        (T0 + MINUTE, "acknowledged", {"by": "bob", "note": None, "until": T0 + 31 * MINUTE}),
        (T0 + 31 * MINUTE, "ack_expired", {}),
        (T0 + 31 * MINUTE, "reminded", {"kind": "reminder", "count": 3, "channels": ["console"]}),
        (T0 + 32 * MINUTE, "acknowledged", {"by": "bob", "note": None, "until": T0 + 37 * MINUTE}),
        (T0 + 37 * MINUTE, "ack_expired", {}),
        (T0 + 40 * MINUTE, "acknowledged", {"by": "carol", "note": None, "until": None}),
    ]
    assert (shown["status"], shown["acknowledgedAt"], shown["acknowledgedBy"]) == (
        "acknowledged",
        T0 + 40 * MINUTE,
        "carol",
    )
    # Mean time to acknowledge uses the first acknowledgement (1 minute), not the current one.
    stats = simple("stats", "--json", now=T0 + 61 * MINUTE).json()
    assert (stats["total"], stats["active"], stats["averageAcknowledgeTime"]) == (1, 1, MINUTE)


# ------------------------------------------------------ five alerts, read only


@pytest.fixture(scope="module")
def five(tmp_path_factory) -> Cli:
    """The shipped rules; five alerts fire at T0; two acknowledged (4m, 6m), two resolved by hand (10m, 20m)."""
    c = Cli(tmp_path_factory.mktemp("five"))
    c.config.write_text(
        (ROOT / "rules.yaml")
        .read_text()
        .replace("file: examples/metrics-breach.json", f"file: {ROOT / 'examples' / 'metrics-breach.json'}")
    )
    ok(c.check(BREACH_METRICS, now=T0))
    ok(c("ack", f"high_error_rate_{T0}", "--by", "ops", now=T0 + 4 * MINUTE))
    ok(c("ack", f"failed_login_attempts_{T0}", "--by", "ops", now=T0 + 6 * MINUTE))
    ok(c("resolve", f"high_response_time_{T0}", "--by", "ops", now=T0 + 10 * MINUTE))
    ok(c("resolve", f"database_connection_issues_{T0}", "--by", "ops", now=T0 + 20 * MINUTE))
    return c


FIVE_IN_WINDOW = {
    "total": 5,
    "active": 3,
    "byType": {"performance": 2, "error": 2, "security": 1},
    "bySeverity": {"high": 2, "critical": 2, "medium": 1},
    "averageResolutionTime": 15 * MINUTE,  # (10m + 20m) / 2
    "averageAcknowledgeTime": 5 * MINUTE,  # (4m + 6m) / 2
    "byRule": {
        "high_response_time": {"count": 1, "active": 0, "averageResolutionTime": 10 * MINUTE, "transitions": 1},
        "high_error_rate": {"count": 1, "active": 1, "averageResolutionTime": 0, "transitions": 1},
        "memory_usage_high": {"count": 1, "active": 1, "averageResolutionTime": 0, "transitions": 1},
        "database_connection_issues": {"count": 1, "active": 0, "averageResolutionTime": 20 * MINUTE, "transitions": 1},
        "failed_login_attempts": {"count": 1, "active": 1, "averageResolutionTime": 0, "transitions": 1},
    },
    # console sent for each; email/slack/webhook not configured: 2+3+1+3+2 skipped;
    # the two hand resolutions recorded console 'resolved' notifications for the next check.
    "notifications": {"pending": 2, "sent": 5, "failed": 0, "skipped": 11, "deferred": 0, "unknown": 0},
}
FIVE_OUT_OF_WINDOW = {
    "total": 0,
    "active": 3,
    "byType": {},
    "bySeverity": {},
    "averageResolutionTime": 0,
    "averageAcknowledgeTime": 0,
    "byRule": {
        rule: {"count": 0, "active": 1, "averageResolutionTime": 0, "transitions": 0}
        for rule in ("high_error_rate", "memory_usage_high", "failed_login_attempts")
    },
    "notifications": NO_NOTIFICATIONS,
}


@pytest.mark.parametrize(
    "now, window, expected",
    [
        (T0 + DAY - 1, [], FIVE_IN_WINDOW),  # default 24h: T0 > now - 24h
        (T0 + DAY, [], FIVE_OUT_OF_WINDOW),  # T0 == now - 24h: not in the window
        (T0 + DAY, ["--window", "86400001"], FIVE_IN_WINDOW),  # a bare number is milliseconds
        (T0 + DAY, ["--window", "86400000"], FIVE_OUT_OF_WINDOW),
        (T0 + 2 * DAY, ["--window", "2d"], FIVE_OUT_OF_WINDOW),
    ],
)
def test_stats_numbers_and_window_edges(five, now, window, expected):
    result = five("stats", "--json", *window, now=now)
    ok(result)
    assert set(result.json()) == STATS_KEYS
    assert result.json() == expected


def test_stats_human_output(five):
    result = five("stats", now=T0 + HOUR, env={"COLUMNS": "80"})
    ok(result)
    out = lines(result.out)
    assert max(map(len, out)) <= 80
    assert out[:6] == [
        "Alerts fired since 2025-11-25 13:00:00 UTC (window 1d)",
        "",
        "Alerts fired                5",
        "Active now (any age)        3",
        "Mean time to resolve      15m",
        "Mean time to acknowledge   5m",
    ]
    assert " critical       2      performance       2      pending       2" in out
    assert " medium         1      security          1      skipped      11" in out
    by_rule = out[out.index("By rule") :]
    assert [line for line in by_rule if line.startswith(" ") and line.split()[0].islower()] == [
        " database_connection_issues       1        0                    20m",
        " failed_login_attempts            1        1                      -",
        " high_error_rate                  1        1                      -",
        " high_response_time               1        0                    10m",
        " memory_usage_high                1        1                      -",
    ]


def test_history_newest_first_with_limit_and_since(five):
    everything = five("history", "--json", now=T0 + HOUR)
    ok(everything)
    alerts = everything.json()
    assert all(set(a) == ALERT_KEYS for a in alerts)
    # Same timestamp: newest first, then id descending; resolved ones included.
    assert [(a["id"], a["status"]) for a in alerts] == [
        (f"memory_usage_high_{T0}", "firing"),
        (f"high_response_time_{T0}", "resolved"),
        (f"high_error_rate_{T0}", "acknowledged"),
        (f"failed_login_attempts_{T0}", "acknowledged"),
        (f"database_connection_issues_{T0}", "resolved"),
    ]
    assert [a["id"] for a in five("history", "--json", "--limit", "2", now=T0 + HOUR).json()] == [
        f"memory_usage_high_{T0}",
        f"high_response_time_{T0}",
    ]
    assert len(five("history", "--json", "--since", "1h", now=T0 + HOUR).json()) == 5  # fired at now - 1h: in
    assert five("history", "--json", "--since", "1h", now=T0 + HOUR + 1).json() == []
    empty = five("history", "--since", "1h", now=T0 + HOUR + 1)
    ok(empty, "No alerts fired in the last 1h\n")
    table = five("history", "--limit", "2", now=T0 + HOUR)
    ok(table)
    out = lines(table.out)
    assert out[0] == "2 alert(s), newest first (--limit 2: older ones not shown) · times in UTC"
    assert out[2] == " Alert                             Severity  Status    Count  Fired"
    assert out[4:8] == [
        " High Memory Usage                 medium    firing        1  2025-11-26",
        f" memory_usage_high_{T0}                              12:00:00",
        " High Response Time                high      resolved      1  2025-11-26",
        f" high_response_time_{T0}                             12:00:00",
    ]


@pytest.mark.parametrize(
    "args, code, err",
    [
        (["show", "nope_1"], 1, "error: Alert nope_1 not found\n" + HINT),
        (["ack", "nope_1"], 1, "error: Alert nope_1 not found\n" + HINT),
        (
            ["ack", f"database_connection_issues_{T0}"],
            1,
            (
                f"error: Alert database_connection_issues_{T0} is already resolved (2025-11-26 12:20:00 UTC by ops); "
                "there is nothing to acknowledge\n"
            ),
        ),
        (
            ["ack", f"high_error_rate_{T0}"],
            1,
            (
                f"error: Alert high_error_rate_{T0} is already acknowledged (by ops at 2025-11-26 12:04:00 UTC)\n"
                f"hint: `pantry-alert show high_error_rate_{T0}` shows its timeline\n"
            ),
        ),
        (
            ["ack", f"memory_usage_high_{T0}", "--for", "30"],
            2,
            "error: --for: a bare number ('30') is ambiguous; add a unit, e.g. 30s, 30m, 30h or 30d\n",
        ),
        (
            ["ack", f"memory_usage_high_{T0}", "--for", "0"],
            2,
            "error: --for: 0 would expire the acknowledgement at once; give a duration such as 30m or 2h\n",
        ),
        (
            ["history", "--since", "5"],
            2,
            "error: --since: a bare number ('5') is ambiguous; add a unit, e.g. 5s, 5m, 5h or 5d\n",
        ),
        (
            ["prune", "--older-than", "7"],
            2,
            "error: --older-than: a bare number ('7') is ambiguous; add a unit, e.g. 7s, 7m, 7h or 7d\n",
        ),
        (
            ["stats", "--window", "a week"],
            2,
            "error: --window: 'a week' is not a duration (use e.g. 30s, 15m, 2h, 7d)\n",
        ),
    ],
)
def test_bad_ids_and_durations(five, args, code, err):
    before = dump(five)
    result = five(*args, now=T0 + HOUR)
    assert (result.code, result.out, result.err) == (code, "", err)
    assert dump(five) == before


def test_history_limit_must_be_positive(five):
    result = five("history", "--limit", "0", now=T0 + HOUR)
    assert (result.code, result.out) == (2, "")
    assert result.err == "error: --limit: 0 is out of range (1 to 1000000)\n"


def test_without_a_database_reads_are_empty_and_lookups_fail(simple):
    assert simple("history", "--json").json() == []
    ok(simple("history"), "No alerts\n")
    assert simple("stats", "--json").json() == {
        "total": 0,
        "active": 0,
        "byType": {},
        "bySeverity": {},
        "averageResolutionTime": 0,
        "averageAcknowledgeTime": 0,
        "byRule": {},
        "notifications": NO_NOTIFICATIONS,
    }
    assert simple("prune", "--json").json() == {
        "deleted": 0,
        "silences": 0,
        "cutoff": T0 - 7 * DAY,
        "dryRun": False,
        "auditDeleted": 0,
    }
    for args in (["show", "cpu_high_1"], ["ack", "cpu_high_1"]):
        result = simple(*args)
        assert (result.code, result.err) == (1, "error: Alert cpu_high_1 not found\n" + HINT)
    assert not simple.db.exists()

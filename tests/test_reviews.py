"""Notes, the post-incident review and the noise report, on the example incident of tests/incident.py."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, Cli
from incident import CHECKOUT_ALERT, ERROR_ALERT, MINUTE, NIGHT_ALERT, REVIEW_AT, T0, play


@pytest.fixture
def incident(tmp_path) -> Cli:
    cli = Cli(tmp_path)
    cli.env["LOGNAME"] = "ops"
    play(cli, tmp_path)
    return cli


def run(cli: Cli, *args: str, now: int = REVIEW_AT) -> str:
    result = cli(*args, now=now)
    assert result.code == 0, result.err
    return result.out


def test_the_review_in_markdown(incident):
    review = run(incident, "review", ERROR_ALERT)
    assert review == (ROOT / "docs" / "review-example.md").read_text()  # the docs' example is this output
    assert review.splitlines() == [
        "# Post-incident review: High Error Rate",
        "",
        "Times in CET (Europe/Berlin); the alert fired on 2025-11-26.",
        "",
        "## Summary",
        "",
        "|  |  |",
        "|---|---|",
        "| Alert | high_error_rate_1764158400000 |",
        "| Rule | High Error Rate (high_error_rate, error) |",
        "| Severity | high |",
        "| Status | resolved |",
        "| Description | Error rate is 0.0734 |",
        "| Peak value | errorRate = 0.092 at 13:05:00 |",  # from the metric history: 0.092 while acknowledged
        "| Duration | 12m |",
        "",
        "## Key times",
        "",
        "| Moment | Time | After firing |",
        "|---|---|---|",
        "| First breach | 2025-11-26 12:58:00 CET (Europe/Berlin) | -2m |",
        "| Fired | 2025-11-26 13:00:00 CET (Europe/Berlin) | 0s |",
        "| First notification via console | 2025-11-26 13:00:00 CET (Europe/Berlin) | 0s |",
        "| Acknowledged by alice | 2025-11-26 13:04:00 CET (Europe/Berlin) | +4m |",
        "| Resolved by auto | 2025-11-26 13:12:00 CET (Europe/Berlin) | +12m |",
        "",
        "- Time to detect: 2m",
        "- Time to acknowledge: 4m",
        "- Time to resolve: 12m",
        "",
        "## Chart",
        "",
        "From the metric history, 12:58:00 to 13:12:00:",
        "",
        "- errorRate: ▅▆█▇▁ (min 0.01, max 0.092, 5 values)",
        "",
        "## Timeline",
        "",
        "| Time | After | Event | Details |",
        "|---|---|---|---|",
        "| 13:00:00 | 0s | fired | high: Error rate is 0.0734 |",
        "| 13:00:00 | 0s | notified | firing to console |",
        "| 13:00:00 | 0s | delivered | firing via console |",
        "| 13:04:00 | +4m | acknowledged | by alice: rolling back v2.3 |",
        "| 13:06:00 | +6m | note | alice: v2.3 rolled back; errors falling |",
        "| 13:12:00 | +12m | resolved | by auto |",
        "| 13:12:00 | +12m | notified | resolved to console |",
        "| 13:12:00 | +12m | delivered | resolved via console |",
        "",
        "## Notifications",
        "",
        "| Channel | Kind | Status | Tries | Sent | Error |",
        "|---|---|---|---|---|---|",
        "| console | firing | sent | 1 | 13:00:00 |  |",
        "| console | resolved | sent | 1 | 13:12:00 |  |",
        "",
        "## Notes",
        "",
        "- 13:06:00 alice: v2.3 rolled back; errors falling",
        "",
        "## Overlapping alerts",
        "",
        "| Alert | Rule | Severity | Fired | Resolved |",
        "|---|---|---|---|---|",
        f"| {CHECKOUT_ALERT} | slow_checkout | medium | 13:05:00 | 13:08:00 |",
        "",
        "## What went well",
        "",
        "",
        "## What to improve",
        "",
        "",
        "## Actions",
    ]


def test_the_review_in_html_escapes_everything(incident, tmp_path):
    hostile = "<script>alert(1)</script> | **bold** [x](javascript:alert(2)) & \x1b[2J"
    run(incident, "note", ERROR_ALERT, hostile, "--by", "<img src=x onerror=alert(3)>", now=REVIEW_AT)
    out = tmp_path / "review.html"
    written = incident("review", ERROR_ALERT, "--format", "html", "-o", str(out), now=REVIEW_AT)
    assert (written.code, written.out, written.err) == (0, "", f"wrote {out}\n")
    page = out.read_text()
    assert "<script" not in page and "<img" not in page and "\x1b" not in page
    assert (
        "<li>2025-11-27 01:00:00 <strong>&lt;img src=x onerror=alert(3)&gt;</strong>: &lt;script&gt;alert(1)&lt;/script&gt; "
        "| **bold** [x](javascript:alert(2)) &amp; \\x1b[2J</li>"
    ) in page
    assert "<tr><td>First breach</td><td>2025-11-26 12:58:00 CET (Europe/Berlin)</td><td>-2m</td></tr>" in page
    assert "<li>Time to acknowledge: <strong>4m</strong></li>" in page
    # 0.061, 0.0734, 0.092, 0.081 and 0.01 from 11:58 to 12:12, the highest at the top (y = 8)
    assert '<polyline points="8.0,62.4 97.1,40.7 320.0,8.0 453.7,27.3 632.0,152.0"/>' in page
    assert f"<tr><td>{CHECKOUT_ALERT}</td><td>slow_checkout</td><td>medium</td>" in page
    for heading in ("What went well", "What to improve", "Actions"):
        assert f"<h2>{heading}</h2>\n<p></p>" in page
    markdown = run(incident, "review", ERROR_ALERT)
    assert (
        "- 2025-11-27 01:00:00 \\<img src=x onerror=alert(3)\\>: \\<script\\>alert(1)\\</script\\> \\| \\*\\*bold\\*\\* "
        "\\[x\\](javascript:alert(2)) \\& \\\\x1b\\[2J"
    ) in markdown.splitlines()
    assert markdown.count("\n| ") > 10 and "\n- 2025-11-27 01:00:00 \\<img" in markdown


def test_review_of_an_open_alert_and_of_an_unknown_one(incident):
    breach = str(incident.metrics({"errorRate": 0.2, "p95ResponseTime": 1}, "m.json"))
    run(incident, "check", "--metrics-file", breach)  # pending: the rule has for: 2m
    run(incident, "check", "--metrics-file", breach, now=REVIEW_AT + 2 * MINUTE)
    open_alert = f"high_error_rate_{REVIEW_AT + 2 * MINUTE}"
    review = run(incident, "review", open_alert, now=REVIEW_AT + 32 * MINUTE).splitlines()
    assert "| Status | firing (still open) |" in review
    assert "| Duration | 30m so far |" in review
    assert "| First breach | 2025-11-27 01:00:00 CET (Europe/Berlin) | -2m |" in review
    assert "| Acknowledged | - | - |" in review and "- Time to resolve: -" in review
    missing = incident("review", "nope_1")
    assert missing.code == 1 and missing.err.startswith("error: Alert nope_1 not found")
    bad = incident("review", ERROR_ALERT, "--format", "pdf")
    assert bad.code == 2 and "--format: 'pdf' must be one of md, html" in bad.err


def test_notes_on_unknown_alerts_and_limits(incident):
    missing = incident("note", "nope_1", "text")
    assert missing.code == 1 and "Alert nope_1 not found" in missing.err
    long = incident("note", ERROR_ALERT, "x" * 4001)
    assert long.code == 2 and "a note is at most 4000 characters, not 4001" in long.err


def test_the_noise_report(incident):
    report = json.loads(run(incident, "report", "--format", "json"))
    assert report == {
        "since": REVIEW_AT - 7 * 86_400_000,
        "until": REVIEW_AT,
        "rules": [
            {
                "rule": "slow_checkout",
                "alerts": 2,
                "notifications": 4,
                "afterHours": 2,  # 23:00 and 23:25 UTC: midnight in Berlin
                "timeToAcknowledge": {"mean": None, "median": None},
                "timeToResolve": {"mean": 690000, "median": 690000},  # 3m and 20m
                "neverAcknowledged": 2,
                "transitions": 4,
                "flapping": False,
                "resolvedWithin5m": 1,
                # with for: 5m neither breach (3 minutes at 12:05, one run at 23:00) would have fired
                "longerFor": {
                    "for": "5m",
                    "backtest": {"alerts": 0, "notifications": 0, "actualAlerts": 2, "actualNotifications": 4},
                },
            },
            {
                "rule": "high_error_rate",
                "alerts": 1,
                "notifications": 2,
                "afterHours": 0,
                "timeToAcknowledge": {"mean": 240000, "median": 240000},
                "timeToResolve": {"mean": 720000, "median": 720000},
                "neverAcknowledged": 0,
                "transitions": 2,
                "flapping": False,
                "resolvedWithin5m": 0,
                "longerFor": None,
            },
        ],
    }
    assert run(incident, "report").splitlines() == [
        "# Noise report, 2025-11-20 01:00:00 CET (Europe/Berlin) to 2025-11-27 01:00:00 CET (Europe/Berlin)",
        "",
        "| Rule | Alerts | Notices | After hours | TTA mean / median | TTR mean / median | Never acknowledged "
        "| Transitions | Resolved within 5m | Candidate |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| slow_checkout | 2 | 4 | 2 | - / - | 11m 30s / 11m 30s | 2 | 4 | 1 | for: 5m (backtest: 0 alert(s), "
        "0 notice(s) instead of 2, 4) |",
        "| high_error_rate | 1 | 2 | 0 | 4m / 4m | 12m / 12m | 0 | 2 | 0 |  |",
        "",
        "Over the alerts fired in the window. After hours: notices sent from 22:00 to 07:00 Europe/Berlin. "
        "TTA and TTR: time from firing to the first acknowledgement and to the resolution. Flapping: 4 "
        "transitions (fire or resolve) within an hour. Candidate: a rule whose alerts resolved within 5 "
        "minutes of firing, for a longer for, with what the metric history says that would have given.",
    ]
    page = run(incident, "report", "--format", "html")
    assert "<tr><td>slow_checkout</td><td>2</td><td>4</td><td>2</td><td>- / -</td>" in page
    quiet = incident.config.read_text().replace("rules:", 'quiet_hours:\n  start: "01:00"\n  end: "06:00"\nrules:')
    incident.config.write_text(quiet)
    assert [r["afterHours"] for r in json.loads(run(incident, "report", "--format", "json"))["rules"]] == [0, 0]
    assert "Notices sent in the quiet hours (01:00 to 06:00 Europe/Berlin)" in run(incident, "report").replace(
        "notices", "Notices"
    )
    empty = run(incident, "report", "--since", "1h", now=REVIEW_AT + 86_400_000)
    assert "No alerts fired in this window." in empty


def test_flapping_counts_transitions_within_an_hour(simple):
    for minute in range(0, 40, 10):
        assert simple.check({"cpu": 95}, now=T0 + minute * MINUTE).code == 0
        assert simple.check({"cpu": 10}, now=T0 + (minute + 5) * MINUTE).code == 0
    (row,) = json.loads(run(simple, "report", "--format", "json", now=T0 + 60 * MINUTE))["rules"]
    assert (row["alerts"], row["transitions"], row["flapping"], row["resolvedWithin5m"]) == (4, 8, True, 4)
    # 95 at :00, :10, :20, :30 and 10 five minutes later: with for: 5m, no breach would have fired
    assert row["longerFor"] == {
        "for": "5m",
        "backtest": {"alerts": 0, "notifications": 0, "actualAlerts": 4, "actualNotifications": 8},
    }
    simple.config.write_text(simple.config.read_text() + "history:\n  enabled: false\n")
    (row,) = json.loads(run(simple, "report", "--format", "json", now=T0 + 60 * MINUTE))["rules"]
    assert row["longerFor"] == {"for": "5m", "backtest": None}  # no history: no answer
    assert NIGHT_ALERT  # the incident's night alert is covered by test_the_noise_report

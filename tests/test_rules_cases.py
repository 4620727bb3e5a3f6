"""``rules test --cases``: the shipped rules.test.yaml passes; a failing case prints its diff; a bad file is exit 2."""

from __future__ import annotations

from conftest import ROOT

FAILING = """
metrics: {p95ResponseTime: 420, errorRate: 0.002, memoryUsage: {current: {heapUsed: 1, heapTotal: 1000}},
          databaseErrors: 0, failedLogins: 3}
tests:
  - name: slow responses page the webhook at once
    steps:
      - at: 0m
        metrics: {p95ResponseTime: 2500}
        expect:
          firing: [high_response_time]
          notifications: {email: [high_response_time firing], webhook: [high_response_time firing]}
      - at: 15m
        expect: {severity: {high_response_time: critical}}
  - name: memory fires
    steps:
      - at: 0m
        metrics: {memoryUsage: {current: {heapUsed: 990, heapTotal: 1000}}}
        expect: {firing: [memory_usage_high]}
"""


def test_the_shipped_rule_tests_pass_and_send_nothing(cli, httpserver):
    cli.env["ALERT_WEBHOOK_URL"] = httpserver.url_for("/hook")
    result = cli("rules", "test", "--cases", str(ROOT / "rules.test.yaml"))
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "PASS  high response time fires, waits out its cooldown, reminds, escalates, recovers\n"
        "PASS  high error rate escalates once (critical stays critical), then reminds until acknowledged\n"
        "PASS  memory usage reminds only after its 30 minute cooldown\n"
        "PASS  a breach inside the cooldown after a recovery does not fire again\n"
        "PASS  database errors and failed logins fire and recover\n"
        "PASS  high error rate paged by an escalation policy, step by step, until acknowledged\n"
        "6 tests: 6 passed, 0 failed\n"
    )
    assert httpserver.log == [] and not cli.db.exists()


def test_a_failing_case_prints_a_diff_per_expectation(cli):
    cases = cli.tmp / "cases.yaml"
    cases.write_text(FAILING)
    result = cli("rules", "test", "--cases", str(cases))
    assert result.code == 1
    assert result.out == (
        "FAIL  slow responses page the webhook at once\n"
        "      at 0s: notifications.console (- expected, + got)\n"
        "        + high_response_time firing\n"
        "      at 0s: notifications.slack (- expected, + got)\n"
        "        + high_response_time firing\n"
        "      at 0s: notifications.webhook (- expected, + got)\n"
        "        - high_response_time firing\n"
        "      at 15m: severity.high_response_time (- expected, + got)\n"
        "        - critical\n"
        "        + high\n"
        "PASS  memory fires\n"
        "2 tests: 1 passed, 1 failed\n"
    )
    data = cli("rules", "test", "--cases", str(cases), "--json").json()
    assert data["passed"] is False and [t["passed"] for t in data["tests"]] == [False, True]
    assert data["tests"][0]["failures"][3] == {
        "at": "15m",
        "what": "severity.high_response_time",
        "expected": ["critical"],
        "got": ["high"],
    }


def test_an_invalid_cases_file_is_exit_2_with_every_problem(cli):
    cases = cli.tmp / "cases.yaml"
    cases.write_text(
        "tests:\n  - name: x\n    steps:\n      - at: 5m\n        metrics: {a: 1}\n"
        "        expect: {firing: [nope], notifications: {pager: []}}\n      - at: 1m\n        bogus: 1\n"
    )
    result = cli("rules", "test", "--cases", str(cases))
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"error: {cases}: 4 problems in the cases file\n"
        f"  {cases}:6: tests.0.steps.0.expect.firing: unknown rule 'nope'\n"
        f"  {cases}:6: tests.0.steps.0.expect.notifications.pager: unknown channel 'pager' "
        "(channels: email, slack, webhook, alertmanager, console, pagerduty, ntfy, teams, telegram, discord, apprise)\n"
        f"  {cases}:8: tests.0.steps.1.bogus: unknown key 'bogus' (allowed: ack, at, expect, metrics, resolve, silence)\n"
        f"  {cases}:7: tests.0.steps.1.at: steps must move forward in time\n"
    )
    both = cli("rules", "test", "--cases", str(cases), "--metrics-file", "x.json")
    assert both.code == 2 and "--cases brings its own metrics" in both.err

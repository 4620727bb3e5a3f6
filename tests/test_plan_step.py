"""One plan step everywhere: a resolve under a silence behaves the same from ``check``, ``resolve`` and
``rules test --cases``: the alert resolves and no resolved notice is recorded."""

from __future__ import annotations

from conftest import T0

RULES = """\
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: [console]
"""

CASES = """\
start: "2025-11-26T12:00:00+00:00"
tests:
  - name: a hand resolve under a silence sends no resolved notice
    steps:
      - at: 0m
        metrics: {cpu: 95}
        expect: {firing: [cpu_high], notifications: {console: [cpu_high firing]}}
      - at: 1m
        silence: {cpu_high: 12h}
        expect: {firing: [cpu_high], notifications: {}}
      - at: 2m
        resolve: [cpu_high]
        metrics: {cpu: 10}
        expect: {resolved: [cpu_high], firing: [], notifications: {}}
  - name: a resolve by the rule under a silence sends no resolved notice
    steps:
      - at: 0m
        metrics: {cpu: 95}
        expect: {firing: [cpu_high], notifications: {console: [cpu_high firing]}}
      - at: 1m
        silence: {cpu_high: 12h}
        expect: {firing: [cpu_high], notifications: {}}
      - at: 2m
        metrics: {cpu: 10}
        expect: {resolved: [cpu_high], firing: [], notifications: {}}
"""

MIN = 60_000


def _fire_and_silence(cli) -> str:
    cli.config.write_text(RULES)
    assert "[HIGH] Kitchen Pantry CRM Alert: CPU High" in cli.check({"cpu": 95}, now=T0).out
    assert cli("silence", "add", "cpu_high", "--for", "12h", now=T0 + MIN).code == 0
    return f"cpu_high_{T0}"


def _notices(cli, alert_id: str) -> list[tuple[str, str]]:
    shown = cli("show", alert_id, "--json", now=T0 + 3 * MIN).json()
    assert shown["status"] == "resolved"
    return [(n["kind"], n["status"]) for n in shown["notifications"]]


def test_check_resolves_under_a_silence_without_a_notice(cli):
    alert_id = _fire_and_silence(cli)
    after = cli.check({"cpu": 10}, now=T0 + 2 * MIN)
    assert after.code == 0 and "[RESOLVED]" not in after.out
    assert _notices(cli, alert_id) == [("firing", "sent"), ("resolved", "skipped")]


def test_resolve_under_a_silence_records_no_notice(cli):
    alert_id = _fire_and_silence(cli)
    assert cli("resolve", alert_id, now=T0 + 2 * MIN).out == "Alert resolved\n"
    after = cli.check({"cpu": 10}, now=T0 + 3 * MIN)
    assert after.code == 0 and "[RESOLVED]" not in after.out
    assert _notices(cli, alert_id) == [("firing", "sent"), ("resolved", "skipped")]


def test_rules_test_cases_resolve_under_a_silence_records_no_notice(cli):
    cli.config.write_text(RULES)
    cases = cli.tmp / "cases.yaml"
    cases.write_text(CASES)
    result = cli("rules", "test", "--cases", str(cases))
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "PASS  a hand resolve under a silence sends no resolved notice\n"
        "PASS  a resolve by the rule under a silence sends no resolved notice\n"
        "2 tests: 2 passed, 0 failed\n"
    )

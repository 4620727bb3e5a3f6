"""rules.yaml: loading, interpolation, validation (through `rules validate` and the library)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pantry_alert.config import load
from pantry_alert.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

BAD = """\
service: shop
colour: blue
rules:
  - id: ok_rule
    name: OK
    type: performance
    severity: high
    when: x > 1
  - id: Bad-Id
    name: Bad
    type: perf
    severity: urgent
    when: x > 1
    cooldown: soon
  - id: ok_rule
    name: Dup
    type: error
    severity: low
    when: __import__('os').system('id')
    chanels: [email]
  - id: attr
    name: Attr
    type: error
    severity: low
    when: x.__class__ > 1
    runbook_url: ftp://wiki
    channels: [pager]
  - id: token_rule
    name: Token
    type: security
    severity: low
    when: "y >"
    description: "{{ x }} ${NOT_SET_ANYWHERE}"
"""


def test_every_problem_is_listed_with_file_line_and_rule(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    problems = info.value.problems
    assert (
        f"{path}:2: colour: unknown key 'colour' (allowed: api, audit, batching, channels, dashboard_url, escalation, escalation_policies, flapping, heartbeats, history, maintenance, notify_resolved_when_silenced, quiet_hours, routes, rules, service, service_name, source, state, timezone)"
        in problems
    )
    assert (
        f"{path}:9: rule 'Bad-Id': rules.9.id: rule id 'Bad-Id' must match [a-z0-9_]+".replace("rules.9", "rules.1")
        in problems
    )
    assert (
        f"{path}:11: rule 'Bad-Id': rules.1.type: type 'perf' must be one of performance, error, security, business"
        in problems
    )
    assert (
        f"{path}:12: rule 'Bad-Id': rules.1.severity: severity 'urgent' must be one of low, medium, high, critical"
        in problems
    )
    assert (
        f"{path}:14: rule 'Bad-Id': rules.1.cooldown: 'soon' is not a duration (use e.g. 30s, 15m, 2h, 7d)" in problems
    )
    assert f"{path}:15: rule 'ok_rule': rules.2.id: duplicate rule id 'ok_rule'" in problems
    assert any(
        p.startswith(f"{path}:19: rule 'ok_rule': rules.2.when: invalid condition")
        and "only the functions abs, min and max may be called" in p
        for p in problems
    )
    assert (
        f"{path}:20: rule 'ok_rule': rules.2.chanels: unknown key 'chanels' (allowed: auto_resolve, channels, cooldown, description, enabled, escalation_policy, flapping, for, id, inhibited_by, labels, name, notify_resolved, notify_resolved_when_silenced, resolve_when, runbook_url, severity, type, when)"
        in problems
    )
    assert any(p.startswith(f"{path}:25: rule 'attr': rules.3.when:") and "'__class__'" in p for p in problems)
    assert (
        f"{path}:26: rule 'attr': rules.3.runbook_url: 'ftp://wiki' is not a valid URL (absolute http(s) URL expected)"
        in problems
    )
    assert (
        f"{path}:27: rule 'attr': rules.3.channels: unknown channel 'pager' (channels: email, slack, webhook, alertmanager, console, pagerduty, ntfy, teams, telegram, discord, apprise)"
        in problems
    )
    assert any(
        p.startswith(f"{path}:32: rule 'token_rule': rules.4.when: invalid condition") and "syntax error" in p
        for p in problems
    )
    assert (
        f"{path}:33: rule 'token_rule': rules.4.description: environment variable ${{NOT_SET_ANYWHERE}} is not set (set it, or write ${{NOT_SET_ANYWHERE:-default}})"
        in problems
    )
    assert len(problems) == 13


def test_interpolation_with_defaults_and_values(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""
service_name: "${NAME:-Fallback}"
source: {url: "http://127.0.0.1:9/m", headers: {Authorization: "Bearer ${TOKEN}"}}
rules:
  - {id: a, name: A, type: error, severity: low, when: x > 1}
""")
    config = load(path, env={"TOKEN": "s3cret"})
    assert config.service_name == "Fallback"
    assert config.source.headers == {"Authorization": "Bearer s3cret"}
    assert config.rules[0].cooldown_ms == 15 * 60_000 and config.rules[0].channels == ["console"]


def test_durations_bare_number_is_minutes_for_cooldown_and_ambiguous_elsewhere(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("""
state: {retention: 7}
rules:
  - {id: a, name: A, type: error, severity: low, when: x > 1, cooldown: 15, for: 30s}
""")
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert info.value.problems == [
        f"{path}:2: state.retention: a bare number (7) is ambiguous; add a unit, e.g. 7s, 7m, 7h or 7d"
    ]
    path.write_text(path.read_text().replace("retention: 7", "retention: 3d"))
    config = load(path, env={})
    assert (config.rules[0].cooldown_ms, config.rules[0].for_ms, config.state.retention_ms) == (
        900_000,
        30_000,
        259_200_000,
    )


def test_policy_keys_are_checked_with_file_and_line(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "quiet_hours: {start: 22:00, timezone: Mars/Olympus, severities: [low, huge]}\n"
        "batching:\n  max_per_run: 0\n"
        "routes:\n  critical: [webhook, pager]\n  urgent: [email]\n"
        "rules:\n  - {id: a, name: A, type: error, severity: low, when: x > 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert info.value.problems == [
        f'{path}:1: quiet_hours.start: write the time as a quoted string, e.g. "22:00" '
        "(unquoted, YAML reads it as 1320)",
        f'{path}:1: quiet_hours: needs end (a time of day such as "07:00")',
        f"{path}:1: quiet_hours.timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Berlin)",
        f"{path}:1: quiet_hours.severities: must be a non-empty list of severities (low, medium, high, critical), "
        "not ['low', 'huge']",
        f"{path}:3: batching.max_per_run: max_per_run must be a whole number ≥ 1, not 0",
        f"{path}:5: routes.critical: unknown channel 'pager' (channels: email, slack, webhook, alertmanager, console, pagerduty, ntfy, teams, telegram, discord, apprise)",
        f"{path}:6: routes.urgent: unknown severity 'urgent' (severities: low, medium, high, critical)",
    ]


def test_shipped_config_loads_with_its_five_rules():
    config = load(ROOT / "rules.yaml", env={})
    summary = [(r.id, r.name, r.type, r.severity, r.when.source, r.cooldown_ms // 60_000) for r in config.rules]
    assert summary == [
        ("high_response_time", "High Response Time", "performance", "high", "p95ResponseTime > 2000", 15),
        ("high_error_rate", "High Error Rate", "error", "critical", "errorRate > 0.05", 5),
        (
            "memory_usage_high",
            "High Memory Usage",
            "performance",
            "medium",
            "memoryUsage.current.heapUsed / memoryUsage.current.heapTotal > 0.85",
            30,
        ),
        ("database_connection_issues", "Database Connection Issues", "error", "critical", "databaseErrors > 10", 5),
        ("failed_login_attempts", "Multiple Failed Login Attempts", "security", "high", "failedLogins > 50", 10),
    ]


def test_rules_validate_exit_codes(cli, tmp_path):
    result = cli("rules", "validate")
    assert result.code == 1  # shipped rules route to email/slack/webhook, unconfigured here
    assert "rule 'high_response_time' routes to channel 'email', which is not configured" in result.err
    cli.config.write_text(BAD)
    result = cli("rules", "validate")
    assert result.code == 2
    assert result.err.startswith(f"error: {cli.config}: 13 configuration problems\n")
    assert f"  {cli.config}:12: rule 'Bad-Id': rules.1.severity:" in result.err
    assert "Traceback" not in result.err
    result = cli("check")
    assert result.code == 2 and "13 configuration problems" in result.err and not cli.db.exists()
    cli.config.write_text(
        "rules:\n  - {id: a, name: A, type: error, severity: low, when: x > 1, channels: [console]}\n"
    )
    result = cli("rules", "validate")
    assert (result.code, result.out) == (0, f"{cli.config}: valid (1 rules)\n")


def test_rules_validate_rejects_underscore_in_templates(cli):
    cli.config.write_text(
        "rules:\n  - {id: a, name: A, type: error, severity: low, when: x > 1, "
        "channels: [console], description: '{{ x.__class__ }}'}\n"
    )
    result = cli("rules", "validate")
    assert result.code == 2
    assert "invalid description template: template uses '__class__'" in result.err


TEMPLATE_TYPO = """\
rules:
  - id: errors
    name: Errors
    type: error
    severity: high
    when: errorRate > 0.05
    channels: [console]
    description: "Error rate {{ '%.2f' | format(errRate * 100) }}% at {{ value }} ({{ rule.id }})"
  - id: loops
    name: Loops
    type: error
    severity: low
    when: cpu > 1
    channels: [console]
    description: "{% set n = 2 %}{% for i in range(n) %}{{ i }}{% endfor %} {{ cpu }} {{ requests }}"
"""


def test_rules_validate_warns_of_a_template_variable_no_metric_provides(cli):
    # no metrics document to read: a template is checked against what its own `when` reads,
    # `rule` and `value` (names it sets itself and the sandbox's globals are not variables)
    cli.config.write_text(TEMPLATE_TYPO)
    result = cli("rules", "validate")
    assert result.code == 1
    assert result.out == f"{cli.config}: valid (2 rules), but 2 template variable(s) that no metric provides\n"
    assert result.err.splitlines()[-2:] == [
        f"warning: {cli.config}:8: rule 'errors': rules.0.description: the template reads 'errRate', which is "
        "neither a metric its 'when' reads nor a template variable (rule, value) (did you mean 'errorRate'?)",
        f"warning: {cli.config}:15: rule 'loops': rules.1.description: the template reads 'requests', which is "
        "neither a metric its 'when' reads nor a template variable (rule, value)",
    ]

    # the config reads a local metrics file: its names are what the templates have
    (cli.config.parent / "metrics.json").write_text('{"errorRate": 0.1, "cpu": 3, "requests": 7}')
    cli.config.write_text("source:\n  file: metrics.json\n" + TEMPLATE_TYPO)
    result = cli("rules", "validate")
    assert result.code == 1
    assert result.out == f"{cli.config}: valid (2 rules), but 1 template variable(s) that no metric provides\n"
    assert result.err.splitlines()[-1] == (
        f"warning: {cli.config}:10: rule 'errors': rules.0.description: the template reads 'errRate', which the "
        "metrics file metrics.json does not provide (did you mean 'errorRate'?)"
    )

    # Prometheus queries name the metrics too
    cli.config.write_text(
        "source:\n  prometheus:\n    url: http://127.0.0.1:9/\n    queries:\n"
        "      errRate: rate(errors[5m])\n      requests: sum(requests)\n" + TEMPLATE_TYPO
    )
    result = cli("rules", "validate")
    assert (result.code, result.out) == (0, f"{cli.config}: valid (2 rules)\n")


def test_missing_config_exit_2_names_path_and_fix(cli, tmp_path):
    result = cli("check", env={"PANTRY_ALERT_CONFIG": str(tmp_path / "nope.yaml")})
    assert result.code == 2
    assert f"error: config file {tmp_path / 'nope.yaml'} not found" in result.err
    assert "--config PATH or PANTRY_ALERT_CONFIG=PATH" in result.err
    assert not cli.db.exists()


def test_invalid_yaml_names_the_line(cli):
    cli.config.write_text("rules:\n  - id: a\n   name: broken\n")
    result = cli("check")
    assert result.code == 2 and f"error: {cli.config}:3: invalid YAML" in result.err
    assert not cli.db.exists()


def test_rules_list_json_has_rules_yaml_keys(cli):
    result = cli("rules", "list", "--json")
    assert result.code == 0
    rules = result.json()
    assert [r["id"] for r in rules] == [
        "high_response_time",
        "high_error_rate",
        "memory_usage_high",
        "database_connection_issues",
        "failed_login_attempts",
    ]
    assert rules[0] == {
        "id": "high_response_time",
        "name": "High Response Time",
        "type": "performance",
        "severity": "high",
        "when": "p95ResponseTime > 2000",
        "cooldown": "15m",
        "channels": ["email", "slack", "console"],
        "description": "95th percentile response time is {{ '%.2f' | format(p95ResponseTime) }}ms (threshold: 2000ms)",
        "runbook_url": None,
        "for": "0",
        "resolve_when": None,
        "auto_resolve": True,
        "notify_resolved": True,
        "labels": {},
        "enabled": True,
    }


def test_rules_list_human_marks_unconfigured_channels(cli):
    result = cli("rules", "list")
    assert result.code == 0
    assert "    email    not configured\n" in result.out and "high_response_time" in result.out


def test_rules_test_renders_the_shipped_descriptions_exactly(cli):
    result = cli("rules", "test", "--json")
    assert result.code == 0, result.err
    assert [(r["rule"], r["verdict"], r["description"]) for r in result.json()["results"]] == [
        ("high_response_time", "fires", "95th percentile response time is 2500.00ms (threshold: 2000ms)"),
        ("high_error_rate", "fires", "Error rate is 7.34% (threshold: 5%)"),
        ("memory_usage_high", "fires", "Memory usage is 90.0% (threshold: 85%)"),
        ("database_connection_issues", "fires", "12 database errors in the last hour (threshold: 10)"),
        ("failed_login_attempts", "fires", "75 failed login attempts in the last hour (threshold: 50)"),
    ]
    assert not cli.db.exists()


def test_rules_test_healthy_and_unevaluable(cli):
    result = cli("rules", "test", "--metrics-file", str(ROOT / "examples" / "metrics-healthy.json"), "--json")
    assert result.code == 0 and {r["verdict"] for r in result.json()["results"]} == {"ok"}
    path = cli.metrics({"p95ResponseTime": 1})
    result = cli("rules", "test", "--metrics-file", str(path), "--json")
    assert result.code == 1
    verdicts = {r["rule"]: (r["verdict"], r["error"]) for r in result.json()["results"]}
    assert verdicts["high_response_time"] == ("ok", None)
    assert verdicts["high_error_rate"] == ("unevaluable", "metric 'errorRate' is missing from the metrics document")


def test_rules_test_shows_brackets_literally_and_huge_integers(cli):
    cli.config.write_text(
        "rules:\n  - {id: a, name: A, type: error, severity: low, when: 'cpu > 1', channels: [console], "
        "description: 'cpu [bold]{{ host }}[/bold] [/]'}\n"
    )
    path = cli.metrics('{"cpu": ' + "9" * 350 + ', "host": "web[1]"}')
    result = cli("rules", "test", "--metrics-file", str(path))
    assert result.code == 0, result.err
    assert "cpu [bold]web[1][/bold] [/]" in result.out
    assert "999999…(350 digits)" in result.out

"""The shipped rules.yaml holds the five standard Kitchen Pantry CRM rules, field for field.

Deployments know their alerts by these rule ids (they prefix every alert id and appear in
webhooks), so the ids, names, types, severities, conditions, cooldowns and channels must not
drift, and the descriptions must read exactly as below on the sample metrics.
"""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import BREACH_METRICS, ROOT

from pantry_alert.config import load

# id, name, type, severity, when, cooldown (minutes), channels (besides `console`)
STANDARD_RULES = [
    (
        "high_response_time",
        "High Response Time",
        "performance",
        "high",
        "p95ResponseTime > 2000",
        15,
        ["email", "slack"],
    ),
    ("high_error_rate", "High Error Rate", "error", "critical", "errorRate > 0.05", 5, ["email", "slack", "webhook"]),
    (
        "memory_usage_high",
        "High Memory Usage",
        "performance",
        "medium",
        "memoryUsage.current.heapUsed / memoryUsage.current.heapTotal > 0.85",
        30,
        ["slack"],
    ),
    (
        "database_connection_issues",
        "Database Connection Issues",
        "error",
        "critical",
        "databaseErrors > 10",
        5,
        ["email", "slack", "webhook"],
    ),
    (
        "failed_login_attempts",
        "Multiple Failed Login Attempts",
        "security",
        "high",
        "failedLogins > 50",
        10,
        ["email", "slack"],
    ),
]
# On p95ResponseTime 2500, errorRate 0.0734, heap 900 of 1000, databaseErrors 12, failedLogins 75:
DESCRIPTIONS = {
    "high_response_time": "95th percentile response time is 2500.00ms (threshold: 2000ms)",
    "high_error_rate": "Error rate is 7.34% (threshold: 5%)",
    "memory_usage_high": "Memory usage is 90.0% (threshold: 85%)",
    "database_connection_issues": "12 database errors in the last hour (threshold: 10)",
    "failed_login_attempts": "75 failed login attempts in the last hour (threshold: 50)",
}


def test_sample_metrics_are_the_documented_ones():
    assert BREACH_METRICS == {
        "p95ResponseTime": 2500,
        "errorRate": 0.0734,
        "memoryUsage": {"current": {"heapUsed": 900, "heapTotal": 1000}},
        "databaseErrors": 12,
        "failedLogins": 75,
    }
    assert json.loads((ROOT / "examples" / "metrics-breach.json").read_text()) == BREACH_METRICS


@pytest.mark.parametrize("name", ["rules.yaml", "examples/server-rules.yaml"])
def test_shipped_rules_yaml_as_written(name):
    """The files themselves: cooldowns as bare minutes, channels in order, console the only addition."""
    text = (ROOT / name).read_text()
    raw = yaml.safe_load(text)
    written = []
    for rule in raw["rules"]:
        channels = [c for c in rule["channels"] if c != "console"]
        assert rule["channels"] in (channels, channels + ["console"]), rule["id"]
        written.append(
            (rule["id"], rule["name"], rule["type"], rule["severity"], rule["when"], rule["cooldown"], channels)
        )
    assert written == STANDARD_RULES
    assert [rule["description"] for rule in raw["rules"]] == [
        rule["description"] for rule in yaml.safe_load((ROOT / "rules.yaml").read_text())["rules"]
    ]
    # The notification policy keys are shown, commented out, and not enabled.
    assert not {"quiet_hours", "batching", "routes"} & set(raw)
    for key in ("# quiet_hours:", "# batching:", "# routes:"):
        assert key in text


def test_server_template_stands_alone():
    """Copied to /etc/pantry-alert/, the template must not depend on the repository."""
    text = (ROOT / "examples" / "server-rules.yaml").read_text()
    raw = yaml.safe_load(text)
    assert raw["source"] == {"url": "http://localhost:3000/api/metrics", "timeout": "10s", "alert_after": 3}
    assert raw["state"]["path"] == "/var/lib/pantry-alert/state.db"  # an absolute path: the config alone picks it
    assert all("console" not in rule["channels"] for rule in raw["rules"])
    load(ROOT / "examples" / "server-rules.yaml", env={})


def test_shipped_rules_as_loaded():
    config = load(ROOT / "rules.yaml", env={})
    loaded = [
        (
            r.id,
            r.name,
            r.type,
            r.severity,
            r.when.source,
            r.cooldown_ms / 60_000,
            [c for c in r.channels if c != "console"],
        )
        for r in config.rules
    ]
    assert loaded == STANDARD_RULES
    assert all(r.enabled and r.auto_resolve and r.notify_resolved and r.for_ms == 0 for r in config.rules)


def test_descriptions_render_exactly_on_the_sample_metrics(cli):
    path = cli.metrics(BREACH_METRICS)
    result = cli("rules", "test", "--metrics-file", str(path), "--json")
    assert result.code == 0, result.err
    assert {r["rule"]: (r["verdict"], r["description"]) for r in result.json()["results"]} == {
        rule: ("fires", text) for rule, text in DESCRIPTIONS.items()
    }


def test_first_check_fires_the_five_alerts_under_their_ids(cli):
    result = cli("check", "--json")  # metrics from the shipped source: examples/metrics-breach.json
    assert result.code == 0, result.err
    assert result.json()["fired"] == [f"{rule[0]}_1764158400000" for rule in STANDARD_RULES]
    alerts = {a["ruleId"]: a for a in cli("list", "--json").json()}
    assert {rule: (a["title"], a["severity"], a["type"], a["description"]) for rule, a in alerts.items()} == {
        rule_id: (name, severity, rule_type, DESCRIPTIONS[rule_id])
        for rule_id, name, rule_type, severity, *_ in STANDARD_RULES
    }

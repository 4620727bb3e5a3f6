"""Shared by the escalation, window and inhibition tests: two rule files and a runner for
``rules test --cases`` (in-process)."""

from __future__ import annotations

POLICY_RULES = """
escalation_policies:
  backend:
    - {after: 0m, channels: [slack]}
    - {after: 15m, channels: [email]}
    - {after: 45m, channels: [webhook], repeat: 30m}
rules:
  - id: high_error_rate
    name: High Error Rate
    type: error
    severity: critical
    when: errorRate > 0.05
    cooldown: 10m
    channels: [slack]
    escalation_policy: backend
  - id: slow
    name: Slow
    type: performance
    severity: high
    when: p95 > 2000
    cooldown: 10m
    channels: [console]
"""


HOLD_RULES = """
maintenance:
  - name: weekly-backup
    rules: ["database_*"]
    weekly: [{days: [wed], start: "13:00", end: "14:00"}]
    timezone: Europe/Berlin
flapping: {transitions: 4, window: 30m}
rules:
  - id: database_errors
    name: Database errors
    type: error
    severity: high
    when: databaseErrors > 10
    cooldown: 5m
    channels: [email]
    flapping: false
  - id: api_errors
    name: API errors
    type: error
    severity: high
    when: errorRate > 0.05
    cooldown: 5m
    channels: [slack]
    inhibited_by: [database_errors]
    flapping: false
  - id: cpu
    name: CPU
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 5m
    channels: [slack]
"""


def cases(cli, rules: str, text: str, *args: str):
    cli.config.write_text(rules)
    path = cli.tmp / "cases.yaml"
    path.write_text(text)
    return cli("rules", "test", "--cases", str(path), *args, now=None)

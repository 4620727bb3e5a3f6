"""The tests' shared sample data: the repository root, metrics, a fixed clock, an alert in its
JSON shape, the environment variables no run inherits and a one-rule config."""

from __future__ import annotations

from pathlib import Path

from pantry_alert.notify.registry import CHANNEL_NAMES, capabilities

ROOT = Path(__file__).resolve().parent.parent
# examples/metrics-breach.json: every shipped rule breached (test_shipped_rules.py holds them equal)
BREACH_METRICS = {
    "p95ResponseTime": 2500,
    "errorRate": 0.0734,
    "memoryUsage": {"current": {"heapUsed": 900, "heapTotal": 1000}},
    "databaseErrors": 12,
    "failedLogins": 75,
}
HEALTHY_METRICS = {
    "p95ResponseTime": 420,
    "errorRate": 0.002,
    "memoryUsage": {"current": {"heapUsed": 410, "heapTotal": 1000}},
    "databaseErrors": 0,
    "failedLogins": 3,
}
T0 = 1764158400000  # 2025-11-26T12:00:00Z
# An alert in its JSON shape (docs/commands.md), as channels receive it.
SAMPLE_ALERT = {
    "id": "high_error_rate_1764160000000",
    "type": "error",
    "severity": "critical",
    "title": "High Error Rate",
    "description": "Error rate is 7.34% (threshold: 5%)",
    "timestamp": 1764160000000,
    "metadata": {"rule": "high_error_rate", "metrics": {"errorRate": 0.0734}, "escalated": False, "alertCount": 1},
    "resolved": False,
    "resolvedAt": None,
    "ruleId": "high_error_rate",
    "status": "firing",
    "count": 1,
    "lastSeenAt": 1764160000000,
    "acknowledgedAt": None,
    "acknowledgedBy": None,
    "resolvedBy": None,
    "escalated": False,
    "silenced": False,
    "inhibited": False,
    "runbookUrl": None,
    "labels": {},
}
MINUTE = 60_000
# The channels' environment variables (as each channel declares them) and the program's own:
# never inherited from the developer's shell.
CHANNEL_ENV = (
    *(var for name in CHANNEL_NAMES for var in capabilities(name).env),
    "FRONTEND_URL",
    "PANTRY_ALERT_LINK_SECRET",
    "PANTRY_ALERT_CONFIG",
    "PANTRY_ALERT_DB",
    "PANTRY_ALERT_NOW",
)

SIMPLE_CONFIG = """
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: {severity}
    when: cpu > 90
    cooldown: {cooldown}
    channels: [console]
    description: "CPU at {{{{ cpu }}}}%"
"""

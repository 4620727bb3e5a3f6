"""Escalation policies, maintenance windows, inhibition and flapping: every configuration error
names its key and line."""

from __future__ import annotations

BAD = """
escalation_policies:
  backend:
    - {after: 0m, channels: [slack]}
    - {channels: [email]}
    - {after: 45m, channels: [webhook], repeat: 30m}
  other:
    - {after: 5m, channels: [slack], repeat: 5m}
    - {after: 10m, channels: [slack]}
routes: {critical: {policy: nope}}
maintenance:
  - name: weekly
    rules: [cpu_*]
    weekly: [{days: [sun, funday], start: "02:00", end: "04:00"}]
    timezone: Mars/Base
  - name: cronny
    match: {severity: high}
    cron: "61 * * * *"
flapping: {transitions: 1, window: 1h}
rules:
  - id: a
    name: A
    type: error
    severity: high
    when: x > 1
    escalation_policy: missing
    inhibited_by: [a, b, zz]
  - id: b
    name: B
    type: error
    severity: high
    when: x > 1
    inhibited_by: [c]
  - id: c
    name: C
    type: error
    severity: high
    when: x > 1
    inhibited_by: [b]
"""


def test_every_configuration_error_names_its_key_and_line(cli):
    cli.config.write_text(BAD)
    result = cli("rules", "validate", now=None)
    assert result.code == 2
    path = cli.config
    problems = [line.strip() for line in result.err.splitlines()[1:-1]]
    assert problems == [
        f"{path}:5: escalation_policies.backend.1: a step needs after "
        "(how long the alert fires unacknowledged first, e.g. 0m, 15m)",
        f"{path}:8: escalation_policies.other.0.repeat: only the last step may repeat",
        f"{path}:10: routes.critical.policy: unknown escalation policy 'nope' (escalation_policies: backend, other)",
        f"{path}:15: maintenance.0.timezone: unknown time zone 'Mars/Base' (use an IANA name like Europe/Berlin)",
        f"{path}:14: maintenance.0.weekly.0.days: days must be a list of mon, tue, wed, thu, fri, sat, sun",
        f"{path}:18: maintenance.1.cron: invalid cron expression '61 * * * *': Bad minute",
        f"{path}:16: maintenance.1: a cron window needs duration (how long each opening lasts, e.g. 2h)",
        f"{path}:19: flapping.transitions: must be a whole number ≥ 2, not 1",
        f"{path}:26: rule 'a': rules.0.escalation_policy: unknown escalation policy 'missing' "
        "(escalation_policies: backend, other)",
        f"{path}:27: rule 'a': rules.0.inhibited_by: a rule cannot inhibit itself",
        f"{path}:27: rule 'a': rules.0.inhibited_by: unknown rule 'zz'",
        f"{path}:33: rule 'b': rules.1.inhibited_by: inhibition cycle: b -> c -> b",
        f"{path}:39: rule 'c': rules.2.inhibited_by: inhibition cycle: c -> b -> c",
    ]

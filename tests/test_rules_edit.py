"""``rules add`` / ``rules update``: validated, atomic, and the diff is only the rule that changed."""

from __future__ import annotations

import difflib
import os
import stat

COMMENTED = """\
# Rules for the shop.   Keep this header!
service: shop   # machine name
service_name: 'The Shop'

escalation:
  thresholds: {low: 5, medium: 3, high: 2, critical: 1}
  add_channels: [webhook]

rules:
  # latency first
  - id: slow_pages
    name: Slow Pages
    type: performance
    severity: high
    when: p95ResponseTime > 2000   # ms
    cooldown: 15
    channels: [email, console]
    description: "p95 is {{ p95ResponseTime }}ms"

  - id: errors
    name: "Errors"
    type: error
    severity: critical
    when: errorRate > 0.05
    cooldown: 5
    channels: [email, slack, console]
    description: "Error rate {{ errorRate }}"
    labels: {team: backend}
"""

NEW_RULE = """\
id: queue_backlog
name: Queue Backlog
type: business
severity: medium
when: queue.depth > 1000
cooldown: 10m
channels:
  - slack
  - console
description: "{{ queue.depth }} jobs waiting"
labels:
  team: ops
"""


def diff(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if not line.startswith(("---", "+++", "@@"))
    ]


def test_rules_add_on_a_commented_file_diffs_only_the_new_rule(cli, tmp_path):
    cli.config.write_text(COMMENTED)
    os.chmod(cli.config, 0o640)
    rule = tmp_path / "rule.yaml"
    rule.write_text(NEW_RULE)
    result = cli("rules", "add", "--file", str(rule))
    assert (result.code, result.out, result.err) == (0, "Alert rule created\n", "")
    after = cli.config.read_text()
    assert diff(COMMENTED, after) == [
        "+\n",
        "+  - id: queue_backlog\n",
        "+    name: Queue Backlog\n",
        "+    type: business\n",
        "+    severity: medium\n",
        "+    when: queue.depth > 1000\n",
        "+    cooldown: 10m\n",
        "+    channels: [slack, console]\n",  # flow style, like the other rules
        '+    description: "{{ queue.depth }} jobs waiting"\n',
        "+    labels: {team: ops}\n",
    ]
    assert stat.S_IMODE(os.stat(cli.config).st_mode) == 0o640
    assert [r["id"] for r in cli("rules", "list", "--json").json()] == ["slow_pages", "errors", "queue_backlog"]
    leftovers = [p.name for p in cli.config.parent.iterdir() if p.name.startswith(".rules.yaml.")]
    assert leftovers == []


def test_rules_update_changes_only_its_lines(cli, tmp_path):
    cli.config.write_text(COMMENTED)
    change = tmp_path / "change.yaml"
    change.write_text("cooldown: 20m\nrunbook_url: https://wiki.example.com/slow\nseverity: high\n")
    result = cli("rules", "update", "slow_pages", "--file", str(change))
    assert (result.code, result.out) == (0, "Alert rule updated\n")
    assert diff(COMMENTED, cli.config.read_text()) == [
        "-    cooldown: 15\n",
        "+    cooldown: 20m\n",
        "+    runbook_url: https://wiki.example.com/slow\n",
    ]
    rules = {r["id"]: r for r in cli("rules", "list", "--json").json()}
    assert rules["slow_pages"]["cooldown"] == "20m"
    assert rules["slow_pages"]["runbook_url"] == "https://wiki.example.com/slow"
    # a key given as null is removed; the blank line before the next rule stays
    change.write_text("runbook_url: null\n")
    assert cli("rules", "update", "slow_pages", "--file", str(change)).code == 0
    assert diff(COMMENTED, cli.config.read_text()) == ["-    cooldown: 15\n", "+    cooldown: 20m\n"]


def test_invalid_rule_leaves_the_file_byte_for_byte_and_exits_2(cli, tmp_path):
    cli.config.write_text(COMMENTED)
    before = cli.config.read_bytes()
    rule = tmp_path / "rule.yaml"
    cases = {
        NEW_RULE.replace("severity: medium", "severity: urgent"): "severity: severity 'urgent' must be one of",
        NEW_RULE.replace("- slack", "- pager"): "channels: unknown channel 'pager'",
        NEW_RULE + "colour: red\n": "colour: unknown key 'colour'",
        NEW_RULE.replace("queue.depth > 1000", "queue.depth >"): "when: invalid condition",
        NEW_RULE.replace("id: queue_backlog", "id: errors"): "a rule with id 'errors' exists already",
        NEW_RULE.replace("id: queue_backlog", "id: Queue-Backlog"): "rule id 'Queue-Backlog' must match [a-z0-9_]+",
        NEW_RULE.replace('"{{ queue.depth }} jobs waiting"', '"{{ queue.__class__ }}"'): "invalid description template",
        "id: [unclosed\n": "invalid YAML",
        "- a\n- b\n": "must hold one rule",
    }
    for text, reason in cases.items():
        rule.write_text(text)
        result = cli("rules", "add", "--file", str(rule))
        assert result.code == 2, (text, result.err)
        assert reason in result.err, (reason, result.err)
        assert cli.config.read_bytes() == before
    rule.write_text("cooldown: often\n")
    result = cli("rules", "update", "errors", "--file", str(rule))
    assert result.code == 2 and "rule 'errors' is invalid: cooldown: 'often' is not a duration" in result.err
    rule.write_text("cooldown: 5m\n")
    result = cli("rules", "update", "no_such_rule", "--file", str(rule))
    assert result.code == 2 and "no rule with id 'no_such_rule' in the config" in result.err
    assert cli.config.read_bytes() == before


def test_add_rule_library_call_returns_the_rule(tmp_path, monkeypatch):
    from pantry_alert.errors import ConfigError
    from pantry_alert.rules_edit import add_rule

    config = tmp_path / "rules.yaml"
    config.write_text(COMMENTED)
    monkeypatch.setenv("PANTRY_ALERT_DB", str(tmp_path / "state.db"))
    rule = add_rule(config, {"id": "x_high", "name": "X", "type": "error", "severity": "low", "when": "x > 1"})
    assert (rule.id, rule.cooldown_ms, rule.channels) == ("x_high", 15 * 60_000, ["console"])
    assert not (tmp_path / "state.db.lock").exists()  # locked on the rules file, not on a database
    before = config.read_bytes()
    for bad in ([], {"id": "y", 3: "x"}, {"id": "y", "when": object()}):
        try:
            add_rule(config, bad)
        except ConfigError:
            pass
        else:
            raise AssertionError(f"{bad!r} was accepted")
    assert config.read_bytes() == before

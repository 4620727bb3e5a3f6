"""Rough edges a sysadmin meets on the first day."""

from __future__ import annotations

import shutil

from conftest import BREACH_METRICS, ROOT

BREACH_IDS = (
    "high_response_time",
    "high_error_rate",
    "memory_usage_high",
    "database_connection_issues",
    "failed_login_attempts",
)


def test_stats_shows_a_dash_when_nothing_resolved_or_acknowledged(cli):
    shutil.copy(ROOT / "rules.yaml", cli.config)
    cli("check", "--metrics-file", str(cli.metrics(BREACH_METRICS)))
    out = cli("stats").out.splitlines()
    assert "Mean time to resolve      -" in out
    assert "Mean time to acknowledge  -" in out


def test_list_with_an_unknown_rule_says_so(cli):
    shutil.copy(ROOT / "rules.yaml", cli.config)
    result = cli("list", "--rule", "nope")
    assert (result.code, result.out) == (0, "No active alerts\n")
    assert result.err == (
        f"warning: no rule 'nope' in {cli.config}; showing active alerts of that id, if any remain from before\n"
    )


def test_history_limit_zero_is_a_plain_usage_error(cli):
    shutil.copy(ROOT / "rules.yaml", cli.config)
    result = cli("history", "--limit", "0")
    assert (result.code, result.out) == (2, "")
    assert result.err == "error: --limit: 0 is out of range (1 to 1000000)\n"


def test_a_tab_in_yaml_indentation_is_named(cli):
    cli.config.write_text("rules:\n\t- id: x\n")
    result = cli("rules", "validate")
    assert result.code == 2
    assert result.err.startswith(
        f"error: {cli.config}:2: invalid YAML: a tab character in the indentation (YAML indents with spaces only)\n"
    )


def test_rules_list_fits_80_columns_with_whole_ids_and_channel_lines(cli):
    shutil.copy(ROOT / "rules.yaml", cli.config)
    result = cli("rules", "list", env={"COLUMNS": "80", "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook?token=s3cret"})
    assert result.code == 0
    lines = result.out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for rule_id in BREACH_IDS:
        assert any(line.startswith(rule_id + " ") for line in lines), rule_id
    block = lines[lines.index(next(line for line in lines if line.startswith("database_connection_issues"))) :][:8]
    assert block == [
        "database_connection_issues  Database Connection Issues  [critical, error]",
        "  when      databaseErrors > 10",
        "  cooldown  5m",
        "  channels",
        "    email    not configured",
        "    slack    not configured",
        "    webhook  POST http://127.0.0.1:9/hook?…",
        "    console  stdout",
    ]
    assert "s3cret" not in result.out

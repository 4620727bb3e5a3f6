"""A sysadmin's second week: the config alone picks the server's database, and every command says which."""

from __future__ import annotations

import pytest
import yaml
from api_server import Api
from conftest import ROOT, SIMPLE_CONFIG, Cli


def test_server_example_pins_the_timers_database():
    data = yaml.safe_load((ROOT / "examples" / "server-rules.yaml").read_text())
    assert data["state"]["path"] == "/var/lib/pantry-alert/state.db"


def test_rules_validate_names_the_database_it_would_use(tmp_path):
    cli = Cli(tmp_path)
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m") + "state:\n  path: here.db\n")
    result = cli("rules", "validate", env={"PANTRY_ALERT_DB": ""})
    assert result.code == 0
    assert result.out == f"{cli.config}: valid (1 rules)\n"
    assert result.err.endswith(f"state database: {tmp_path / 'here.db'}\n")


def test_serve_logs_its_config_and_database_at_start(tmp_path):
    cli = Cli(tmp_path)
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    with Api(cli) as server:
        assert f"config {cli.config}, state database {cli.db}" in server.log()


def test_the_hint_after_an_invalid_config_keeps_its_config_option(tmp_path):
    cli = Cli(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n")
    result = cli("--config", str(bad), "rules", "validate")
    assert result.code == 2
    assert f"hint: fix them and check with: pantry-alert --config {bad} rules validate\n" in result.err


def test_ids_never_wrap_at_80_columns_and_silenced_alerts_are_marked(tmp_path):
    from conftest import BREACH_METRICS, T0

    cli = Cli(tmp_path)
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    cli.env["COLUMNS"] = "80"
    assert cli("silence", "add", "high_response_time", "--for", "2h", "--reason", "CDN migration").code == 0
    assert cli.check(BREACH_METRICS).code == 0
    listed = cli("list").out
    for alert in cli("list", "--json").json():
        assert f" {alert['id']} " in listed  # whole, on one line
    line = next(x for x in listed.splitlines() if x.startswith(f" high_response_time_{T0}"))
    assert "silenced" in line.split()
    silences = cli("silence", "list")
    [silence] = cli("silence", "list", "--json").json()
    assert silence["id"] in silences.out
    assert all(len(x) <= 80 for x in listed.splitlines() + silences.out.splitlines())


def test_rules_test_help_explains_every_option(tmp_path):
    result = Cli(tmp_path)("rules", "test", "--help")
    assert result.code == 0
    for text in ("read the metrics from a file", "fetch the metrics from this URL", "rule unit tests", "as JSON"):
        assert text in " ".join(result.out.split())


@pytest.mark.parametrize(
    "condition, message",
    [
        ("errorRate >> 2", "operator '>>' is not allowed (use + - * / %)"),
        ("a is b", "comparison 'is' is not allowed (use < <= > >= == !=)"),
        ("  cpu > 90 and mem <<< 2", "syntax error at column 22: invalid syntax"),
    ],
)
def test_expression_errors_show_the_operator_as_written_and_the_right_column(condition, message):
    from pantry_alert.errors import ExpressionError
    from pantry_alert.expressions import compile_condition

    with pytest.raises(ExpressionError) as info:
        compile_condition(condition)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "channel, variable, meant",
    [
        ("email", "SMTP_SERVER", "SMTP_HOST"),
        ("slack", "SLACK_TOKEN", "SLACK_BOT_TOKEN"),
        ("webhook", "WEBHOOK_URL", "ALERT_WEBHOOK_URL"),
    ],
)
def test_an_unconfigured_channel_gets_a_did_you_mean_for_almost_right_variables(tmp_path, channel, variable, meant):
    cli = Cli(tmp_path)
    cli.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m").replace("[console]", f"[{channel}]"))
    result = cli("rules", "validate", env={variable: "x"})
    assert result.code == 1
    assert f"{variable} is set: did you mean {meant}?" in result.err

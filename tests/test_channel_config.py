"""Channel settings: every problem at once with file and line; secrets needed only to send."""

from __future__ import annotations

import textwrap

from conftest import T0

RULES = """\
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    channels: [email, console]
"""


def _write(cli, channels: str) -> None:
    cli.config.write_text(textwrap.dedent(channels) + RULES)


def test_every_channel_problem_is_listed_at_once_with_file_and_line(cli):
    _write(
        cli,
        """\
        channels:
          email:
            host: smtp.example.com
            port: 99999
            to: ops@example.com
          webhook:
            url: ftp://hooks.example.com/x
          slack:
            token: xoxb-not-a-real-token
        """,
    )
    path = cli.config
    result = cli("rules", "validate")
    assert result.code == 2
    assert result.out == ""
    assert f"  {path}:4: channels.email.port: port 99999 out of range 1-65535\n" in result.err
    assert (
        f"  {path}:7: channels.webhook.url: invalid webhook URL 'ftp://hooks.example.com/x' "
        "(absolute http(s) URL expected)\n" in result.err
    )
    assert (
        f"  {path}:8: channels.slack: channel missing: token is set, but chat.postMessage needs both a token "
        "and a channel (set channels.slack.channel or SLACK_ALERT_CHANNEL; or set webhook_url for an incoming "
        "webhook)\n" in result.err
    )
    assert result.err.startswith(f"error: {path}: 3 channel problems\n")
    metrics = cli.metrics({"cpu": 95})
    check = cli("check", "--metrics-file", str(metrics))
    assert check.code == 2
    assert check.err == result.err
    assert not cli.db.exists()


def test_half_configured_channels_name_the_missing_setting_from_yaml_or_environment(cli):
    _write(cli, "channels:\n  email:\n    host: smtp.example.com\n")
    result = cli("rules", "validate")
    assert result.code == 2
    assert (
        f"{cli.config}:2: channels.email: to missing: host names an SMTP server but no recipient is set "
        "(set channels.email.to or ALERT_TO_EMAILS)" in result.err
    )
    cli.config.write_text(RULES)
    result = cli("rules", "validate", env={"SLACK_BOT_TOKEN": "xoxb-1", "SMTP_HOST": "smtp.example.com"})
    assert result.code == 2
    assert (
        "channels.email: to missing: SMTP_HOST (environment) names an SMTP server but no recipient is set" in result.err
    )
    assert "channels.slack: channel missing: SLACK_BOT_TOKEN (environment) is set" in result.err
    assert "xoxb-1" not in result.err


def test_commands_that_do_not_send_work_without_channel_secrets(cli):
    _write(
        cli,
        """\
        channels:
          email:
            host: smtp.example.com
            to: ops@example.com
            user: alerts
            password: ${SMTP_PASS}
        """,
    )
    metrics = cli.metrics({"cpu": 95})
    fired = cli("check", "--metrics-file", str(metrics), env={"SMTP_PASS": "s3cret", "SMTP_PORT": "1"})
    assert fired.code == 1  # the email fails (nothing listens on port 1); the alert is stored
    alert_id = f"cpu_high_{T0}"
    assert cli("list", "--json").json()[0]["id"] == alert_id
    assert cli("history", "--json").json()[0]["id"] == alert_id
    assert cli("show", alert_id, "--json").json()["id"] == alert_id
    assert cli("stats", "--json").json()["total"] == 1
    assert cli("ack", alert_id).out == "Alert acknowledged\n"
    assert cli("resolve", alert_id).out == "Alert resolved\n"
    assert cli("prune", "--json").json()["deleted"] == 0
    status = cli("rules", "list")
    assert status.code == 0
    assert "    email    invalid (see: pantry-alert rules validate)\n" in status.out
    check = cli("check", "--metrics-file", str(metrics))
    assert check.code == 2
    assert (
        f"{cli.config}:6: channels.email.password: environment variable ${{SMTP_PASS}} is not set "
        "(set it, or write ${SMTP_PASS:-default})" in check.err
    )
    validate = cli("rules", "validate")
    assert validate.code == 2
    assert "${SMTP_PASS} is not set" in validate.err

"""A quiet cron run must not pay for typer, rich, httpx, jinja2, slack_sdk, sqlite_utils, or the
HTTP server's starlette, uvicorn, prometheus_client and ruamel."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BREACH_METRICS, HEALTHY_METRICS, Result, rows

from pantry_alert import __version__

HEAVY = (
    "typer",
    "pydantic",
    "rich",
    "httpx",
    "jinja2",
    "slack_sdk",
    "sqlite_utils",
    "smtplib",
    "starlette",
    "uvicorn",
    "prometheus_client",
    "ruamel",
    "apprise",
    "requests",
)
SERVER = {"starlette", "uvicorn", "prometheus_client", "ruamel"}


def probe(cli, *args):
    """Run ``pantry-alert ARGS`` in a fresh interpreter: (exit code, the heavy packages it imported,
    the process); ``loaded`` reads from the process the light modules it imported."""
    env = dict(
        cli.env, PANTRY_ALERT_CONFIG=str(cli.config), PANTRY_ALERT_DB=str(cli.db), PANTRY_ALERT_NOW="1764158400000"
    )
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True)
    heavy = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")][-1][6:]
    return proc.returncode, heavy, proc


def loaded(proc, among: tuple[str, ...]) -> list[str]:
    """The modules of ``among`` that the probed run imported."""
    line = [line for line in proc.stderr.splitlines() if line.startswith("LOADED=")][-1][7:]
    return [name for name in line.split(",") if name in among]


# Light, but loaded for nothing by a quiet run: the channels it does not use (only the
# console is configured here) and the message they send, the thread pool with logging, uuid
# with platform, and typing (modules name their annotations' types under TYPE_CHECKING only);
# dataclasses with inspect (the classes on this path are ``record.Record``s), the description
# templates, and the delivery workers' threading and queue.
UNUSED_BY_A_QUIET_CHECK = (
    "pantry_alert.notify.base",
    "pantry_alert.notify.email",
    "pantry_alert.notify.email_render",
    "pantry_alert.notify.slack",
    "pantry_alert.notify.webhook",
    "pantry_alert.notify.alertmanager",
    "pantry_alert.notify.pagerduty",
    "pantry_alert.notify.ntfy",
    "pantry_alert.notify.teams",
    "pantry_alert.notify.telegram",
    "pantry_alert.notify.discord",
    "pantry_alert.notify.apprise",
    "pantry_alert.notify.http_channel",
    "concurrent.futures",
    "logging",
    "uuid",
    "platform",
    "typing",
    "dataclasses",
    "inspect",
    "dis",
    "pantry_alert.templates",
    "threading",
    "queue",
)
# What a job's ping does without: everything a check needs beyond the state database.
UNUSED_BY_A_PING = ("dataclasses", "typing", "cronsim", "zoneinfo", "pantry_alert.config", "pantry_alert.engine")
# One command line in a fresh interpreter, then what it imported: the heavy packages, and the
# light modules of the lists above (both read from the same run).
PROBE = f"""
import sys
from pantry_alert.cli import main
code = main(sys.argv[1:])
modules = set(sys.modules)
heavy = sorted({{m.split('.')[0] for m in modules}} & set({HEAVY!r}))
light = sorted(modules & set({UNUSED_BY_A_QUIET_CHECK + UNUSED_BY_A_PING!r}))
sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n' + 'LOADED=' + ','.join(light) + '\\n')
sys.exit(code)
"""


@pytest.mark.slow
def test_quiet_check_imports_no_heavy_module_and_nothing_it_does_not_use(cli):
    path = cli.metrics(HEALTHY_METRICS)
    cli("check", "--metrics-file", str(path))  # first run creates the schema (sqlite_utils) once
    code, heavy, proc = probe(cli, "check", "--metrics-file", str(path))
    assert (code, heavy, loaded(proc, UNUSED_BY_A_QUIET_CHECK), proc.stdout) == (0, "", [], "")


@pytest.mark.slow
def test_quiet_check_loads_only_the_channels_it_can_use(cli):
    """A configured channel is loaded (and checked) as before; its settings are a record, and the
    message class with ``notify.base`` waits for a message to send."""
    path = cli.metrics(HEALTHY_METRICS)
    cli("check", "--metrics-file", str(path))
    cli.env["ALERT_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    code, _heavy, proc = probe(cli, "check", "--metrics-file", str(path))
    assert (code, loaded(proc, UNUSED_BY_A_QUIET_CHECK)) == (0, ["pantry_alert.notify.webhook"]), proc.stderr
    cli.env.update(
        SMTP_HOST="127.0.0.1",
        ALERT_TO_EMAILS="ops@example.com",
        SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T0/B0/x",
    )
    code, _heavy, proc = probe(cli, "check", "--metrics-file", str(path))
    assert (code, loaded(proc, UNUSED_BY_A_QUIET_CHECK)) == (
        0,
        [
            "pantry_alert.notify.email",
            "pantry_alert.notify.email_render",
            "pantry_alert.notify.slack",
            "pantry_alert.notify.webhook",
        ],
    ), proc.stderr


@pytest.mark.slow
def test_a_quiet_check_with_every_new_channel_configured_imports_no_sending_library(cli):
    path = cli.metrics(HEALTHY_METRICS)
    cli("check", "--metrics-file", str(path))
    cli.env.update(
        APPRISE_URLS="json://127.0.0.1:9/x",
        PAGERDUTY_ROUTING_KEY="k" * 32,
        NTFY_TOPIC="ops",
        TEAMS_WEBHOOK_URL="https://example.com/teams",
        TELEGRAM_BOT_TOKEN="1:abc",
        TELEGRAM_CHAT_ID="42",
        DISCORD_WEBHOOK_URL="https://discord.example/api/webhooks/1/x",
        PANTRY_ALERT_LINK_SECRET="s" * 32,
    )
    code, heavy, proc = probe(cli, "check", "--metrics-file", str(path))
    assert (code, heavy, proc.stdout) == (0, "", ""), proc.stderr
    code, heavy, proc = probe(cli, "--help")
    assert (code, "apprise" in heavy) == (0, False)


@pytest.mark.slow
def test_firing_check_to_console_imports_jinja2_only_for_templates(cli):
    path = cli.metrics(BREACH_METRICS)
    cli("check", "--metrics-file", str(cli.metrics(HEALTHY_METRICS, "h.json")))
    code, heavy, _ = probe(cli, "check", "--metrics-file", str(path))
    assert (code, heavy) == (0, "jinja2")


@pytest.mark.slow
def test_a_firing_check_whose_descriptions_are_text_and_names_does_not_import_jinja2(cli):
    cli.config.write_text(
        "rules:\n"
        "  - {id: cpu, name: CPU, type: performance, severity: high, when: cpu > 90,"
        " channels: [console], description: 'CPU at {{ cpu }}% on {{ host }}'}\n"
    )
    cli("check", "--metrics-file", str(cli.metrics({"cpu": 1, "host": "db-1"}, "h.json")))
    code, heavy, proc = probe(cli, "check", "--metrics-file", str(cli.metrics({"cpu": 95, "host": "db-1"})))
    assert (code, heavy) == (0, "") and "CPU at 95% on db-1" in proc.stdout


def test_unrecognised_check_arguments_fall_back_to_typer_usage_error(cli):
    result = cli("check", "--bogus")
    assert result.code == 2 and "No such option: --bogus" in result.err


@pytest.mark.slow
def test_global_options_before_check_use_fast_path(cli, tmp_path):
    other = tmp_path / "other.db"
    path = cli.metrics(BREACH_METRICS)
    moved = tmp_path / "elsewhere.yaml"
    moved.write_text(cli.config.read_text())
    cli.config.unlink()
    code, heavy, proc = probe(
        cli, "--config", str(moved), "--db", str(other), "check", "--metrics-file", str(path), "--json"
    )
    assert code == 0 and "typer" not in heavy.split(","), proc.stderr  # the first run creates the schema
    assert len(json.loads(proc.stdout)["fired"]) == 5 and other.exists() and not cli.db.exists()
    again = cli("--config", str(moved), "--db", str(other), "check", "--metrics-file", str(path))
    assert again == Result(0, "", "")  # deduplicated against the same db: nothing new


def test_check_help_still_works(cli):
    result = cli("check", "--help")
    assert result.code == 0 and "--metrics-file" in result.out and "--fail-on" in result.out


@pytest.mark.slow
def test_other_commands_do_not_load_the_http_server(cli):
    path = cli.metrics(HEALTHY_METRICS)
    cli("check", "--metrics-file", str(path))
    for args in (("list", "--json"), ("rules", "list", "--json"), ("serve", "--help")):
        code, heavy, proc = probe(cli, *args)
        assert code == 0, proc.stderr
        assert SERVER.isdisjoint(heavy.split(",")), (args, heavy)


@pytest.mark.slow
def test_installed_console_script_runs_as_the_in_process_cli_does(cli):
    """The entry point itself, and the in-process runs of the other tests: same code, output and state."""
    path = cli.metrics(BREACH_METRICS)
    spawned = cli.spawn("check", "--metrics-file", str(path))
    assert spawned.code == 0 and spawned.out.count("FIRED") == 5
    assert cli("check", "--metrics-file", str(path), env={"PANTRY_ALERT_DB": str(cli.tmp / "other.db")}) == spawned
    berlin = cli.spawn("history", env={"TZ": "Europe/Berlin"})
    assert "times in CET" in berlin.out and berlin == cli("history", env={"TZ": "Europe/Berlin"})
    again = cli("check", "--metrics-file", "-", input=json.dumps(BREACH_METRICS))
    assert again == Result(0, "", "")  # stdin, deduplicated against the spawned run's state


@pytest.mark.slow
def test_python_dash_m_runs_the_command_line(cli):
    proc = subprocess.run(
        [sys.executable, "-m", "pantry_alert", "--version"], env=cli.environment(), capture_output=True, text=True
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"pantry-alert {__version__}\n", "")


def test_records_compare_show_and_freeze_as_the_dataclasses_they_replace():
    from pantry_alert.config.model import ApiSettings, QuietHours
    from pantry_alert.model import Alert, Event
    from pantry_alert.store.outbox import Notice, Outcome

    event = Event("a1", 5, "fired")
    assert event == Event("a1", 5, "fired", {}) and event != Event("a1", 5, "fired", {"x": 1})
    assert event.detail is not Event("a1", 5, "fired").detail  # a fresh dict each, as default_factory
    assert repr(event) == "Event(alert_id='a1', at=5, kind='fired', detail={})"
    assert event.__eq__(("a1", 5, "fired", {})) is NotImplemented
    with pytest.raises(TypeError):
        hash(event)
    assert "s3cret" not in repr(ApiSettings(token="s3cret")) and "token" not in repr(ApiSettings())
    notice = Notice(1, "a1", "email", "firing", 0, 5, "k")
    assert (
        notice == Notice(1, "a1", "email", "firing", 0, 5, "k", None) and len({notice, Notice(*_fields(notice))}) == 1
    )
    for frozen in (notice, QuietHours(60, 120)):
        with pytest.raises(AttributeError):
            frozen.start = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Outcome(notice).extra = 1  # __slots__, as before
    alert = Alert("a1", "r", "performance", "high", "T", "D", 5, labels={"k": "v"})
    copied = alert.copy()
    assert copied == alert and copied.labels is not alert.labels


def test_channel_settings_compare_hash_freeze_and_hide_their_secrets_as_the_dataclasses_did():
    from pantry_alert.notify import alertmanager, apprise, email, ntfy, pagerduty, slack, teams, telegram, webhook

    made = [
        webhook.Settings("https://u:pw@hook.example/x?k=s3cret", "s3cret", (("X-Token", "s3cret"),), body="{}"),
        email.Settings("mail.example", 587, False, "u", "s3cret", "a@example.com", ("b@example.com",)),
        slack.Settings("webhook", None, None, "https://hooks.slack.com/services/T/B/s3cret"),
        alertmanager.Settings(("https://am.example/?token=s3cret",), (("Authorization", "s3cret"),)),
        pagerduty.Settings("s3cret"),
        ntfy.Settings("ops", token="s3cret", password="s3cret"),
        teams.Settings("https://teams.example/s3cret"),
        telegram.Settings("1:s3cret", "42"),
        apprise.Settings(("json://s3cret@host/",)),
    ]
    for settings in made:
        again = type(settings)(*_fields(settings))
        assert settings == again and len({settings, again}) == 1 and "s3cret" not in repr(settings)
        assert repr(settings).startswith(f"{type(settings).__qualname__}(")
        with pytest.raises(AttributeError):
            settings.timeout = 1  # type: ignore[misc]
    assert repr(made[0]) == "Settings(timeout=10.0, max_parallel=8)"
    assert repr(made[5]) == "Settings(topic='ops', url='https://ntfy.sh', user=None, timeout=10.0, max_parallel=8)"
    assert teams.Settings("https://t.example/1") != alertmanager.Settings(("https://t.example/1",))
    outcome = alertmanager.SyncOutcome("alertmanager", 2)
    assert (
        outcome == alertmanager.SyncOutcome("alertmanager", 2, [])
        and outcome.peers is not alertmanager.SyncOutcome("x", 0).peers
    )
    with pytest.raises(TypeError):
        hash(outcome)


def _fields(record):
    return [getattr(record, name) for name in record._fields]


PING_HEARTBEATS = (
    "heartbeats:\n"
    '  backup: {schedule: "30 2 * * *", timezone: Europe/Berlin, channels: [email]}\n'
    "  worker: {every: 5m, channels: [console]}\n"
)


@pytest.mark.slow
def test_a_ping_imports_no_heavy_module_and_not_what_only_a_check_needs(cli):
    cli.config.write_text(cli.config.read_text() + PING_HEARTBEATS)
    assert cli("ping", "worker").code == 0  # the first write creates the schema (sqlite_utils) once
    # A plain ping (one kind stands for the others: the same path), a failure with its options
    # after a global option, and a wrapped command.
    for args in (
        ("ping", "backup", "--start"),
        ("--db", str(cli.db), "ping", "backup", "--fail", "--exit-code", "3", "--message", "disk full"),
        ("ping", "worker", "--", "true"),
    ):
        code, heavy, proc = probe(cli, *args)
        assert (code, heavy, loaded(proc, UNUSED_BY_A_PING), proc.stdout) == (0, "", [], ""), (args, proc.stderr)
    kinds = [row[0] for row in rows(cli.db, "SELECT kind FROM pings ORDER BY id")]
    assert kinds == ["success", "start", "fail", "start", "success"]


@pytest.mark.slow
def test_a_quiet_check_with_a_heartbeat_loads_no_dataclasses(cli):
    cli.config.write_text(cli.config.read_text() + "heartbeats:\n  worker: {every: 5m, channels: [console]}\n")
    path = cli.metrics(HEALTHY_METRICS)
    cli("check", "--metrics-file", str(path))
    code, heavy, proc = probe(cli, "check", "--metrics-file", str(path))
    assert (code, heavy, loaded(proc, UNUSED_BY_A_QUIET_CHECK), proc.stdout) == (0, "", [], "")

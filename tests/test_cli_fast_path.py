"""The cron fast path parses `check` without typer: its option table must match the typer command."""

from __future__ import annotations

import typer

from pantry_alert.cli.application import app
from pantry_alert.cli.check import OPTIONS, parse_fast


def _typer_check_options() -> dict[str, tuple[str, bool]]:
    command = typer.main.get_command(app).commands["check"]
    out = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        for opt in param.opts:
            out[opt] = (param.name, not param.is_flag)
    return out


def test_fast_path_options_match_the_typer_command():
    assert _typer_check_options() == OPTIONS


def test_fast_path_takes_plain_cron_lines_and_leaves_the_rest_to_typer():
    g, options = parse_fast(["--config", "r.yaml", "--db", "s.db", "check", "--metrics-file", "-", "--json"])
    assert (g.config_path, g.db, g.debug) == ("r.yaml", "s.db", False)
    assert options == {"metrics_file": "-", "metrics_url": None, "fail_on": None, "dry_run": False, "as_json": True}
    assert parse_fast(["check", "--help"]) is None
    assert parse_fast(["check", "--config", "x"]) is None  # a global option after the command: typer explains
    assert parse_fast(["check", "--fail-on"]) is None  # value missing: typer's usage error
    assert parse_fast(["list"]) is None


def test_a_global_option_after_the_command_says_where_it_goes(cli):
    result = cli("list", "--config", "other.yaml")
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "error: --config is a global option: put it before the command, e.g. pantry-alert --config PATH list ...\n"
        "hint: in cron lines and units, PANTRY_ALERT_CONFIG and PANTRY_ALERT_DB work anywhere\n"
    )
    result = cli("check", "--db", "x.db")
    assert result.code == 2 and "error: --db is a global option" in result.err


def test_shell_completion_is_offered_and_completes_commands(cli):
    shown = cli("--show-completion", "bash")
    assert shown.code == 0
    assert "_pantry_alert_completion()" in shown.out
    assert "complete -o default -F _pantry_alert_completion pantry-alert" in shown.out
    completed = cli(env={"_PANTRY_ALERT_COMPLETE": "complete_bash", "COMP_WORDS": "pantry-alert ru", "COMP_CWORD": "1"})
    assert (completed.code, completed.out.split()) == (0, ["rules"])


def test_ping_fast_path_options_match_the_typer_command():
    from pantry_alert.cli.ping import OPTIONS as PING_OPTIONS

    command = typer.main.get_command(app).commands["ping"]
    options = {opt: (p.name, not p.is_flag) for p in command.params if p.param_type_name == "option" for opt in p.opts}
    assert options == PING_OPTIONS


def test_ping_fast_path_takes_cron_lines_and_leaves_the_rest_to_typer():
    from pantry_alert.cli.ping import parse_fast as parse_ping

    assert parse_ping(["--db", "s.db", "ping", "backup", "--fail", "--exit-code", "3", "--message", "-x"]) == {
        "config_path": None,
        "db": "s.db",
        "name": "backup",
        "start": False,
        "fail": True,
        "exit_code": 3,
        "message": "-x",
        "command": None,
    }
    wrapped = parse_ping(["ping", "backup", "--", "pg_dump", "--ping", "--", "x"])
    assert (wrapped["name"], wrapped["command"]) == ("backup", ["pg_dump", "--ping", "--", "x"])
    for argv in (
        ["ping", "--help"],
        ["ping"],
        ["ping", "a", "b"],  # a command needs --
        ["ping", "a", "--"],
        ["ping", "a", "--exit-code", "x", "--fail"],
        ["ping", "a", "--message"],
        ["check", "ping"],
        ["list", "ping"],
    ):
        assert parse_ping(argv) is None, argv

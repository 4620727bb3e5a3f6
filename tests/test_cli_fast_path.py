"""The cron fast path parses `check` (each command of `cli.fast.FAST_COMMANDS`) without typer: each option
table must match its typer command."""

from __future__ import annotations

from importlib import import_module

import pytest
import typer

from pantry_alert.cli.application import app
from pantry_alert.cli.check import execute
from pantry_alert.cli.fast import FAST_COMMANDS, parse


def _typer_options(name: str) -> dict[str, tuple[str, bool]]:
    command = typer.main.get_command(app).commands[name]
    out = {}
    for param in command.params:
        if param.param_type_name != "option":
            continue
        for opt in param.opts:
            out[opt] = (param.name, not param.is_flag)
    return out


@pytest.mark.parametrize("name", sorted(FAST_COMMANDS))
def test_fast_path_options_match_the_typer_command(name):
    assert _typer_options(name) == import_module(f"pantry_alert.cli.{FAST_COMMANDS[name]}").OPTIONS


def test_fast_path_takes_plain_cron_lines_and_leaves_the_rest_to_typer():
    run, g, options = parse(["--config", "r.yaml", "--db", "s.db", "check", "--metrics-file", "-", "--json"])
    assert (run, g.config_path, g.db, g.debug) == (execute, "r.yaml", "s.db", False)
    assert options == {"metrics_file": "-", "metrics_url": None, "fail_on": None, "dry_run": False, "as_json": True}
    assert parse(["check", "--help"]) is None
    assert parse(["check", "--config", "x"]) is None  # a global option after the command: typer explains
    assert parse(["check", "--fail-on"]) is None  # value missing: typer's usage error
    assert parse(["list"]) is None
    assert parse(["--debug", "check", "--dry-run"])[1].debug is True
    assert parse(["--verbose", "check"]) is None


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
    # the shell named wins over the parent process (none under cron or CI, another one in a terminal)
    zsh = cli("--config", "other.yaml", "--show-completion=zsh")
    assert zsh.code == 0 and zsh.out.startswith("#compdef pantry-alert\n")
    installed = cli("--install-completion", "bash", env={"HOME": str(cli.tmp)})
    script = cli.tmp / ".bash_completions" / "pantry-alert.sh"
    assert (installed.code, installed.out.splitlines()[0]) == (0, f"bash completion installed in {script}")
    assert "_pantry_alert_completion()" in script.read_text()
    assert f"source '{script}'" in (cli.tmp / ".bashrc").read_text()
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


def test_the_kept_top_level_help_is_what_typer_prints(cli):
    from pantry_alert.cli.help_text import TEXT, render

    assert TEXT == render(), "the kept help is stale: regenerate it with `python -m pantry_alert.cli.help_text`"
    assert TEXT.startswith("Usage: pantry-alert [OPTIONS] COMMAND [ARGS]...\n") and "  check  " in TEXT
    assert cli("--help").out == TEXT  # 120 columns: typer's width stops at 80
    narrow = cli("--help", env={"COLUMNS": "60"})  # typer wraps for a narrow terminal itself
    assert narrow.code == 0 and narrow.out != TEXT and narrow.out.startswith("Usage: pantry-alert")


def _complete(cli, words: str, spawn: bool = False, **kw) -> tuple[int, list[str], str]:
    """Ask for bash completions of the last word of ``words``: in-process, or with ``spawn``
    from the installed script (as bash does)."""
    env = {"_PANTRY_ALERT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = (cli.spawn if spawn else cli)(env={**env, **kw.pop("env", {})}, **kw)
    return result.code, result.out.split(), result.err


@pytest.mark.slow
def test_completion_offers_channel_names_and_rule_ids_from_the_config(cli):
    cli.config.write_text(
        "rules:\n"
        "  - {id: cpu_high, name: C, type: performance, severity: high, when: cpu > 90, channels: [console]}\n"
        "  - {id: errors, name: E, type: error, severity: low, when: errorRate > 1, channels: [console]}\n"
        "  - {id: cpu_low, name: L, type: performance, severity: low, when: cpu < 1, channels: [console]}\n"
    )
    channels = [
        "email",
        "slack",
        "webhook",
        "alertmanager",
        "console",
        "pagerduty",
        "ntfy",
        "teams",
        "telegram",
        "discord",
        "apprise",
    ]
    assert _complete(cli, "pantry-alert test-notify ", spawn=True) == (0, channels, "")
    assert _complete(cli, "pantry-alert test-notify s") == (0, ["slack"], "")
    assert _complete(cli, "pantry-alert silence add ") == (0, ["cpu_high", "errors", "cpu_low"], "")
    assert _complete(cli, "pantry-alert silence add cpu") == (0, ["cpu_high", "cpu_low"], "")
    assert _complete(cli, "pantry-alert rules update e") == (0, ["errors"], "")
    assert _complete(cli, "pantry-alert list --rule cpu_h") == (0, ["cpu_high"], "")
    assert _complete(cli, "pantry-alert rules backtest --rule cpu_l") == (0, ["cpu_low"], "")
    # --config on the command line wins over PANTRY_ALERT_CONFIG; an unreadable config completes nothing, quietly
    other = cli.tmp / "other.yaml"
    other.write_text("rules:\n  - {id: disk_full, name: D, type: error, severity: low, when: disk > 1}\n")
    assert _complete(cli, f"pantry-alert --config {other} silence add ") == (0, ["disk_full"], "")
    cli.config.write_text("rules: [\n")
    assert _complete(cli, "pantry-alert silence add ") == (0, [], "")
    assert _complete(cli, "pantry-alert --config /nonexistent/rules.yaml rules update ") == (0, [], "")

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

"""The in-process ``cli`` fixture leaves the test process as it found it, whatever the run did."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings

import pytest
from conftest import BREACH_METRICS


def process_state() -> tuple:
    return (
        dict(os.environ),
        os.getcwd(),
        time.tzname,
        (sys.stdin, sys.stdout, sys.stderr),
        list(logging.getLogger().handlers),
        list(warnings.filters),
        warnings.showwarning,
    )


@pytest.mark.parametrize(
    "args, code",
    [
        (("check", "--metrics-file", "metrics.json"), 0),  # fires, prints, sends to the console
        (("list", "--json"), 0),
        (("rules", "validate"), 1),  # channels not configured
        (("check", "--bogus"), 2),  # a usage error from typer
        (("--version",), 0),
    ],
)
def test_a_run_restores_environment_directory_zone_streams_logging_and_warnings(cli, args, code):
    cli.metrics(BREACH_METRICS)
    before = process_state()
    result = cli(*args, env={"TZ": "Asia/Tokyo", "COLUMNS": "61"})
    assert result.code == code
    assert process_state() == before


def test_a_run_that_raises_restores_the_process_too(cli, monkeypatch):
    import pantry_alert.cli

    def crash(argv):
        raise MemoryError("planted")

    monkeypatch.setattr(pantry_alert.cli, "main", crash)
    before = process_state()
    result = cli("list", env={"TZ": "Asia/Tokyo"})
    assert result.code == 1 and result.err.endswith("MemoryError: planted\n")
    assert process_state() == before


def test_a_run_sees_only_its_own_environment_zone_and_directory(cli, monkeypatch):
    import pantry_alert.cli

    monkeypatch.setenv("PANTRY_ALERT_LEAK", "set in the test process after the Cli was made")
    seen = {}

    def spy(argv):
        seen.update(env=dict(os.environ), zone=time.tzname, cwd=os.getcwd(), stdin=sys.stdin.read())
        return 0

    monkeypatch.setattr(pantry_alert.cli, "main", spy)
    assert cli("x", env={"TZ": "Asia/Tokyo"}, input="stdin text").code == 0
    assert "PANTRY_ALERT_LEAK" not in seen["env"] and seen["env"]["TZ"] == "Asia/Tokyo"
    assert seen["zone"] == ("JST", "JST") and seen["cwd"] == str(cli.tmp) and seen["stdin"] == "stdin text"
    assert seen["env"]["PANTRY_ALERT_CONFIG"] == str(cli.config) and seen["env"]["PANTRY_ALERT_DB"] == str(cli.db)

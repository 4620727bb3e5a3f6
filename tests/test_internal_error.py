"""A bug (an exception that is not a pantry-alert error) exits 70 with a one-line report; --debug
shows its traceback.  No input provokes a bug, so one is planted: the JSON decoder breaks.
An error in the input keeps its exit code under --debug, with the traceback added."""

from __future__ import annotations

import json

import pytest
from conftest import Cli

BUG = "the JSON decoder broke"
REPORT = f"internal error: RuntimeError: {BUG}\nhint: run again with --debug for a traceback, and report it\n"


@pytest.fixture
def broken_json(monkeypatch):
    def loads(*args, **kwargs):
        raise RuntimeError(BUG)

    monkeypatch.setattr(json, "loads", loads)


@pytest.mark.parametrize(
    "command",
    [
        ("check", "--metrics-file", "metrics.json"),  # the fast path, without typer
        ("check", "--metrics-file=metrics.json", "--json"),  # parsed by typer
        ("rules", "test", "--metrics-file", "metrics.json"),
    ],
)
def test_a_bug_exits_70_with_a_one_line_report_and_writes_nothing(simple: Cli, broken_json, command):
    simple.metrics({"cpu": 95})
    result = simple(*command)
    assert (result.code, result.out, result.err) == (70, "", REPORT)
    assert not simple.db.exists()


def test_debug_shows_the_traceback_of_the_bug(simple: Cli, broken_json):
    simple.metrics({"cpu": 95})
    result = simple("--debug", "check", "--metrics-file", "metrics.json")
    # The bug is re-raised under --debug: the interpreter prints it and exits 1.
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith("Traceback (most recent call last):\n")
    assert "    raise RuntimeError(BUG)\n" in result.err  # the frame of the bug itself
    assert result.err.endswith(f"RuntimeError: {BUG}\n")
    assert "internal error" not in result.err
    assert not simple.db.exists()


def test_debug_on_an_input_error_adds_the_traceback_and_keeps_the_exit_code(simple: Cli):
    simple.config.write_text("rules: [\n")
    plain = simple("check", "--metrics-file", "metrics.json")
    debug = simple("--debug", "check", "--metrics-file", "metrics.json")
    assert (plain.code, plain.out, debug.code, debug.out) == (2, "", 2, "")
    assert plain.err.startswith("error: ") and "Traceback" not in plain.err
    assert debug.err.startswith("Traceback (most recent call last):\n")
    assert debug.err.endswith(plain.err) and "ConfigError" in debug.err

"""Terminal output under hostile metric strings, and a closed or broken stdout, through the installed command."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import T0, _script

HOSTILE = "a\x1b[2J\x1b]0;pwned\x07\rRESOLVED x\nFIRED z\u202e\x9b"
SHOWN = "a\\x1b[2J\\x1b]0;pwned\\x07\\rRESOLVED x\\nFIRED z\\u202e\\x9b"

CONFIG = """
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: {channels}
    description: "CPU {{{{ cpu }}}} {{{{ y }}}}"
"""


def test_control_characters_are_escaped_in_every_human_output(simple):
    simple.config.write_text(CONFIG.format(channels="[console]"))
    metrics = simple.metrics(json.dumps({"cpu": 95, "y": HOSTILE}))
    result = simple("check", "--metrics-file", str(metrics))
    assert result.code == 0, result.err
    assert result.out == (
        f"FIRED     cpu_high_{T0} [high] CPU High: CPU 95 {SHOWN}\n"
        "[HIGH] Kitchen Pantry CRM Alert: CPU High\n"
        f"  CPU 95 {SHOWN}\n"
        f"  alert cpu_high_{T0} · firing · count 1 · 2025-11-26 12:00:00 UTC\n"
    )
    outputs = [
        simple("show", f"cpu_high_{T0}"),
        simple("rules", "test", "--metrics-file", str(metrics)),
        simple("list"),
        simple("history"),
    ]
    for output in outputs:
        assert output.code == 0, output.err
        for raw in ("\x1b", "\r", "\x07", "\u202e", "\x9b"):
            assert raw not in output.out + output.err
    assert "a\\x1b[2J\\x1b]0;pwned\\x07\\rRESOLVED" in outputs[0].out  # show's description row
    assert "\\x1b[2J" in outputs[1].out
    # the stored description keeps the text as it came; JSON output escapes it by itself
    stored = simple("list", "--json").json()[0]["description"]
    assert stored == f"CPU 95 {HOSTILE}"


def _run_with_stdout(simple, stdout_fd_action, *args):
    env = dict(simple.env, PANTRY_ALERT_CONFIG=str(simple.config), PANTRY_ALERT_DB=str(simple.db))
    env["PANTRY_ALERT_NOW"] = str(T0)
    return subprocess.run(
        _script() + list(args),
        env=env,
        cwd=simple.tmp,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        **stdout_fd_action,
    )


@pytest.mark.slow
def test_closed_stdout_does_not_stop_delivery(simple, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    simple.config.write_text(
        CONFIG.format(channels="[console, webhook]")
        + f"channels:\n  webhook:\n    url: {httpserver.url_for('/hook')}\n"
    )
    metrics = simple.metrics({"cpu": 95, "y": "x"})
    proc = _run_with_stdout(simple, {"preexec_fn": lambda: os.close(1)}, "check", "--metrics-file", str(metrics))
    assert len(httpserver.log) == 1  # the webhook notice went out
    assert json.loads(httpserver.log[0][0].get_data())["alert"]["id"] == f"cpu_high_{T0}"
    assert proc.returncode == 1  # the console notice could not be shown: reported, not retried
    assert proc.stderr == (
        f"warning: alert cpu_high_{T0}: firing notification to console failed (gave up): "
        "console: cannot write (standard output is closed)\n"
        "warning: could not write to standard output (standard output is closed); the run itself completed\n"
    )
    shown = simple("show", f"cpu_high_{T0}", "--json").json()
    assert sorted((n["channel"], n["status"]) for n in shown["notifications"]) == [
        ("console", "failed"),
        ("webhook", "sent"),
    ]


@pytest.mark.slow
def test_broken_pipe_on_stdout_does_not_stop_delivery(simple, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    simple.config.write_text(
        CONFIG.format(channels="[webhook]") + f"channels:\n  webhook:\n    url: {httpserver.url_for('/hook')}\n"
    )
    metrics = simple.metrics({"cpu": 95, "y": "x"})
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: every write is EPIPE
    try:
        proc = _run_with_stdout(simple, {"stdout": write_end}, "check", "--metrics-file", str(metrics))
    finally:
        os.close(write_end)
    assert len(httpserver.log) == 1
    assert proc.returncode == 0
    assert proc.stderr == (
        "warning: could not write to standard output ([Errno 32] Broken pipe); the run itself completed\n"
    )

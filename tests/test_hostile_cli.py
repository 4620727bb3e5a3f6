"""Hostile command-line values through the installed command: overflowing durations and limits,
a clock given in seconds, huge integers, bare-number channel timeouts."""

from __future__ import annotations

import json

import pytest
from conftest import T0

HUGE = "9" * 20


@pytest.mark.parametrize(
    "args, message",
    [
        (("ack", "cpu_high_1", "--for", HUGE + "w"), f"error: --for: '{HUGE}w' is too long (at most 36500d)\n"),
        (("stats", "--window", HUGE), f"error: --window: '{HUGE}' is too long (at most 36500d)\n"),
        (("history", "--since", HUGE + "d"), f"error: --since: '{HUGE}d' is too long (at most 36500d)\n"),
        (("prune", "--older-than", HUGE + "d"), f"error: --older-than: '{HUGE}d' is too long (at most 36500d)\n"),
        (
            ("history", "--since", "9" * 400 + "d"),
            "error: --since: '" + "9" * 29 + "…999d' is too long (at most 36500d)\n",
        ),
        (("history", "--limit", HUGE), f"error: --limit: {HUGE} is out of range (1 to 1000000)\n"),
        (("history", "--limit", "0"), "error: --limit: 0 is out of range (1 to 1000000)\n"),
    ],
)
def test_overflowing_durations_and_limits_are_usage_errors(simple, args, message):
    simple.check({"cpu": 95})
    result = simple(*args)
    assert (result.code, result.err, result.out) == (2, message, "")


def test_longest_duration_still_works(simple):
    simple.check({"cpu": 95})
    result = simple("history", "--since", "36500d", "--json")
    assert result.code == 0
    assert [a["id"] for a in result.json()] == [f"cpu_high_{T0}"]


@pytest.mark.parametrize("command", [("list",), ("history",), ("stats",), ("rules", "validate"), ("check",)])
def test_clock_in_epoch_seconds_is_refused_by_every_command(simple, command):
    simple.metrics({"cpu": 95})
    args = command + (("--metrics-file", str(simple.tmp / "metrics.json")) if command == ("check",) else ())
    result = simple(*args, now="1764158400")
    assert result.code == 2
    assert result.err == (
        "error: PANTRY_ALERT_NOW=1764158400 looks like epoch seconds; it must be epoch milliseconds\n"
        "hint: PANTRY_ALERT_NOW=1764158400000, or an ISO-8601 timestamp such as 2026-11-26T12:00:00+00:00\n"
    )
    assert not simple.db.exists()


@pytest.mark.parametrize(
    "now, message",
    [
        (HUGE, f"error: PANTRY_ALERT_NOW={HUGE} is after the year 9999\n"),
        (
            "0001-01-01T00:00:00+00:00",
            "error: PANTRY_ALERT_NOW='0001-01-01T00:00:00+00:00' is out of range (1970 to 9999)\n",
        ),
        (
            "yesterday",
            "error: PANTRY_ALERT_NOW='yesterday' is not an ISO-8601 timestamp with an offset or epoch milliseconds\n",
        ),
    ],
)
def test_out_of_range_clock_is_refused(simple, now, message):
    result = simple("list", now=now)
    assert result.code == 2
    assert result.err.startswith(message)


def test_bare_number_channel_timeout_is_ambiguous(simple):
    simple.config.write_text(
        simple.config.read_text() + "channels:\n  webhook:\n    url: https://hooks.example.com/x\n    timeout: 5\n"
    )
    result = simple("rules", "validate")
    assert result.code == 2
    line = simple.config.read_text().splitlines().index("    timeout: 5") + 1
    assert result.err == (
        f"error: {simple.config}: 1 channel problem\n"
        f"  {simple.config}:{line}: channels.webhook.timeout: a bare number (5) is ambiguous; add a unit, e.g. 5s or 5ms\n"
        "hint: fix them and check with: pantry-alert rules validate\n"
    )


def test_rules_test_with_integers_too_large_to_print(simple):
    simple.config.write_text(
        "rules:\n  - id: big\n    name: Big\n    type: performance\n    severity: high\n"
        "    when: x * x * x > 1\n    channels: [console]\n    description: '{{ value }}'\n"
    )
    metrics = simple.metrics('{"x": ' + "9" * 4000 + "}")
    human = simple("rules", "test", "--metrics-file", str(metrics))
    assert human.code == 1
    assert "about 10^12000 (12001 digits)" in human.out
    assert human.err.startswith("warning: rule 'big': description template failed: ValueError: Exceeds the limit")
    as_json = simple("rules", "test", "--metrics-file", str(metrics), "--json")
    assert as_json.code == 1
    entry = json.loads(as_json.out)["results"][0]
    assert (entry["verdict"], entry["value"], entry["description"]) == (
        "fires",
        "about 10^12000 (12001 digits)",
        "Alert condition met",
    )
    too_long = simple.metrics('{"x": ' + "9" * 5000 + "}", "long.json")
    parsed = simple("rules", "test", "--metrics-file", str(too_long))
    assert parsed.code == 3
    assert parsed.err.startswith(
        f"error: metrics file {too_long}: cannot parse the JSON: Exceeds the limit (4300 digits)"
    )

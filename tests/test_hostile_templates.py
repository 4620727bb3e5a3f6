"""Hostile description templates and metric strings through ``check``.

A template over its time or size budget, or one that renders text that is not
valid Unicode, gives that rule the default description with a warning (exit 1);
the alert still fires and the other rules go on.  The budgets are checked in the
renderer itself (no signal, no process limit), so the command runs in this
process; the time budget is also run once through the installed command.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import T0


@pytest.fixture(autouse=True)
def short_render_budget(monkeypatch):
    """Renders that run out of time do so in 0.2 s instead of the 1 s built in."""
    monkeypatch.setenv("PANTRY_ALERT_RENDER_SECONDS", "0.2")


RULE = """
  - id: {id}
    name: {name}
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: [console]
    description: |-
      {description}
"""


def config(cli, *descriptions: str) -> None:
    rules = "".join(RULE.format(id=f"rule_{i}", name=f"Rule {i}", description=d) for i, d in enumerate(descriptions))
    cli.config.write_text("rules:" + rules)


HOSTILE = [
    ("{{ 'x'|center(3000000000) }}", "SecurityError: width 3000000000 is too large (at most 1000000)"),
    (
        "{{ '%999999999d'|format(1) }}",
        "SecurityError: field width or precision 999999999 in a format string is too large (at most 1000)",
    ),
    (
        "{{ '%999999999d' % 1 }}",
        "SecurityError: field width or precision 999999999 in a format string is too large (at most 1000)",
    ),
    (
        "{{ '{:>999999999}'.format(1) }}",
        "SecurityError: field width or precision 999999999 in a format spec is too large (at most 1000)",
    ),
    ("{{ 'x'.center(3000000000) }}", "SecurityError: center(3000000000): wider than 1000000 characters"),
    (
        "{% set a = 'x' * 10000 %}{% set b = a~a~a~a %}{% set c = b~b~b~b %}{% set d = c~c~c~c %}"
        "{% set e = d~d~d~d %}{{ e|length }}",
        "SecurityError: concatenating (~) to a string of more than 1000000 characters",
    ),
    (
        "{% set a = 'x' * 10000 %}{% set b = a+a+a+a %}{% set c = b+b+b+b %}{% set d = c+c+c+c %}"
        "{% set e = d+d+d+d %}{{ e|length }}",
        "SecurityError: adding (+) to a sequence of more than 1000000 characters",
    ),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "SecurityError: concatenating (~) to a string of more than 1000000 characters",
    ),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "RenderTimeout: rendering took longer than 0.2s",
    ),
    ("{{ ('x' * 10000)|indent(1000000) }}", "SecurityError: indent width 1000000 is too large (at most 1000)"),
    (
        "{{ ('x ' * 5000)|wordwrap(1, wrapstring='y' * 1000) }}",
        "SecurityError: wordwrap() giving a string of more than 1000000 characters",
    ),
    (
        "{{ ('x' * 10000)|replace('x', 'y' * 10000) }}",
        "SecurityError: replace() giving a string of more than 1000000 characters",
    ),
    (
        "{% set a = 'y' * 10000 %}{{ ([a] * 10000)|join(',') }}",
        "SecurityError: joining to more than 1000000 characters",
    ),
    (
        "{% set a = 'y' * 10000 %}{{ [a] * 10000 }}",
        "SecurityError: a value shown as text of more than 1000000 characters",
    ),
    ("{{ range(1)|batch(1000000000, 'x')|list }}", "SecurityError: batch(1000000000) is too large (at most 100000)"),
    (
        "{% set x = 2 ** 1000 %}{% set y = x ** 1000 %}{{ y ** 1000 }}",
        "SecurityError: the power is larger than 65536 bits",
    ),
    ("{{ lipsum(1000000000) }}", "UndefinedError: 'lipsum' is undefined"),
]
ENDLESS = HOSTILE[8]  # the one stopped by the time budget


@pytest.mark.parametrize("template, reason", HOSTILE, ids=[t for t, _ in HOSTILE])
def test_template_over_budget_falls_back_fast(simple, template, reason):
    assert_falls_back(simple, template, reason)


@pytest.mark.slow
def test_the_installed_command_stops_an_endless_template_too(simple):
    assert ENDLESS[1].startswith("RenderTimeout:")
    assert_falls_back(simple, *ENDLESS, timeout=30)


def assert_falls_back(simple, template: str, reason: str, **run) -> None:
    """``check`` in this process (or, with ``timeout``, the installed command) falls back for rule 0 only."""
    config(simple, template, "CPU at {{ cpu }}%")
    started = time.monotonic()
    result = simple.check({"cpu": 95}, **run)
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert result.out == (
        f"FIRED     rule_0_{T0} [high] Rule 0: Alert condition met\nFIRED     rule_1_{T0} [high] Rule 1: CPU at 95%\n"
        "[HIGH] Kitchen Pantry CRM Alert: Rule 0\n  Alert condition met\n"
        f"  alert rule_0_{T0} · firing · count 1 · 2025-11-26 12:00:00 UTC\n"
        "[HIGH] Kitchen Pantry CRM Alert: Rule 1\n  CPU at 95%\n"
        f"  alert rule_1_{T0} · firing · count 1 · 2025-11-26 12:00:00 UTC\n"
    )
    assert result.err == (
        f"warning: rule 'rule_0': description template failed ({reason}); used 'Alert condition met'\n"
    )
    assert elapsed < 15  # seconds, not minutes: the budget is 1 s of rendering


def test_lone_surrogate_in_a_metric_string_falls_back_and_other_rules_go_on(simple):
    config(simple, "y is {{ y }}", "CPU at {{ cpu }}%")
    metrics = simple.metrics('{"cpu": 95, "y": "\\ud800"}')
    result = simple("check", "--metrics-file", str(metrics))
    assert result.code == 1
    assert f"FIRED     rule_0_{T0} [high] Rule 0: Alert condition met\n" in result.out
    assert f"FIRED     rule_1_{T0} [high] Rule 1: CPU at 95%\n" in result.out
    assert result.err == (
        "warning: rule 'rule_0': description template failed (the description contains text that is not valid "
        "Unicode (a lone surrogate in a metric string?)); used 'Alert condition met'\n"
    )
    listed = simple("list", "--json")
    assert listed.code == 0
    assert sorted(a["description"] for a in listed.json()) == ["Alert condition met", "CPU at 95%"]

    tested = simple("rules", "test", "--metrics-file", str(metrics), "--json")
    assert tested.code == 1
    assert [(r["rule"], r["verdict"], r["description"]) for r in tested.json()["results"]] == [
        ("rule_0", "fires", "Alert condition met"),
        ("rule_1", "fires", "CPU at 95%"),
    ]
    human = simple("rules", "test", "--metrics-file", str(metrics))
    assert human.code == 1
    assert "CPU at 95%" in human.out
    assert human.err == (
        "warning: rule 'rule_0': description template failed: the description contains text that is not valid "
        "Unicode (a lone surrogate in a metric string?)\n"
    )


def test_rendering_in_a_worker_thread_is_bounded_too():
    from pantry_alert.errors import ExpressionError
    from pantry_alert.templates import render_description

    outcome = {}

    def render():
        started = time.monotonic()
        try:
            render_description(
                "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}, {}, 1
            )
        except ExpressionError as exc:
            outcome["error"] = str(exc)
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=render)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert outcome["error"] == "RenderTimeout: rendering took longer than 0.2s"
    assert outcome["seconds"] < 5


def test_rendering_installs_no_signal_handler():
    import signal

    from pantry_alert.templates import render_description

    before = signal.getsignal(signal.SIGALRM)
    assert render_description("{{ cpu }} {{ 'ab' * 3 }} {{ 'x'|center(5) }}", {"cpu": 1}, {}, 1) == "1 ababab   x  "
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_render_budget_is_one_second_unless_a_positive_number_shortens_it(monkeypatch):
    from pantry_alert.templates import RENDER_SECONDS, RENDER_SECONDS_ENV
    from pantry_alert.timeutil import budget_seconds

    assert (RENDER_SECONDS, RENDER_SECONDS_ENV) == (1.0, "PANTRY_ALERT_RENDER_SECONDS")
    monkeypatch.delenv(RENDER_SECONDS_ENV)
    assert budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV) == 1.0
    for junk in ("", "soon", "0", "-1", "inf", "nan"):
        monkeypatch.setenv(RENDER_SECONDS_ENV, junk)
        assert budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV) == 1.0, junk
    monkeypatch.setenv(RENDER_SECONDS_ENV, "0.25")
    assert budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV) == 0.25

"""Silences and quiet hours hold for notices already queued, and for hand resolves."""

from __future__ import annotations

from conftest import T0

HOUR = 3_600_000
RULES = """\
quiet_hours: {{start: "22:00", end: "07:00", timezone: UTC, severities: [{quiet}]}}
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: high
    when: cpu > 90
    cooldown: 10m
    channels: [console]
    description: "CPU at {{{{ cpu }}}}%"
"""


def _setup(cli, quiet: str = "high") -> None:
    cli.config.write_text(RULES.format(quiet=quiet))


def test_a_silence_holds_back_a_notice_deferred_before_it_began(cli):
    _setup(cli)
    night = T0 + 11 * HOUR  # 23:00 UTC: quiet
    fired = cli.check({"cpu": 95}, now=night)
    assert fired.code == 0 and "[HIGH] Kitchen Pantry CRM Alert" not in fired.out  # deferred
    assert cli("silence", "add", "cpu_high", "--for", "12h", now=night + HOUR // 2).code == 0
    morning = cli.check({"cpu": 95}, now=T0 + 19 * HOUR)  # 07:00, the silence still holds
    assert morning.code == 0
    assert "Kitchen Pantry CRM" not in morning.out
    shown = cli("show", f"cpu_high_{night}", "--json", now=T0 + 19 * HOUR).json()
    assert [(n["kind"], n["status"], n["error"]) for n in shown["notifications"]] == [
        ("firing", "skipped", "the rule is silenced: not notified")
    ]


def test_a_hand_resolve_under_a_silence_sends_no_resolved_notice(cli):
    _setup(cli, quiet="low")
    day = T0  # 12:00 UTC, not quiet
    assert "[HIGH] Kitchen Pantry CRM Alert: CPU High" in cli.check({"cpu": 95}, now=day).out
    assert cli("silence", "add", "cpu_high", "--for", "12h", now=day + 60_000).code == 0
    assert cli("resolve", f"cpu_high_{day}", now=day + 70_000).out == "Alert resolved\n"
    after = cli.check({"cpu": 10}, now=day + 180_000)
    assert after.code == 0 and "RESOLVED" not in after.out
    shown = cli("show", f"cpu_high_{day}", "--json", now=day + 180_000).json()
    assert [(n["kind"], n["status"]) for n in shown["notifications"]] == [("firing", "sent"), ("resolved", "skipped")]


def test_a_hand_resolve_in_quiet_hours_is_deferred_to_the_end_of_the_window(cli):
    _setup(cli)
    day = T0 + 9 * HOUR + 50 * 60_000  # 21:50 UTC, not quiet yet
    assert "[HIGH] Kitchen Pantry CRM Alert: CPU High" in cli.check({"cpu": 95}, now=day).out
    assert cli("resolve", f"cpu_high_{day}", now=T0 + 11 * HOUR).out == "Alert resolved\n"  # 23:00
    night = cli.check({"cpu": 10}, now=T0 + 11 * HOUR + 60_000)
    assert night.code == 0 and "RESOLVED" not in night.out
    morning = cli.check({"cpu": 10}, now=T0 + 19 * HOUR)  # 07:00: the window ended
    assert "[RESOLVED] Kitchen Pantry CRM Alert: CPU High" in morning.out

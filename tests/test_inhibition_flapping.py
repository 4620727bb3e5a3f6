"""Inhibition and flapping: the window, inhibition and flapping timelines through
``rules test --cases`` (in-process), and the source alert inhibiting every rule."""

from __future__ import annotations

from conftest import MINUTE, T0
from time_cases import HOLD_RULES, cases

# 2025-11-26 is a Wednesday; the window is 13:00-14:00 Berlin (12:00-13:00 UTC).
HOLD_CASES = """
start: "2025-11-26T12:00:00+01:00"
metrics: {databaseErrors: 0, errorRate: 0.01, cpu: 10}
tests:
  - name: a window holds the notices and notifies a still-firing alert once at its close
    steps:
      - at: 0m
        expect: {notifications: {}}
      - at: 61m
        metrics: {databaseErrors: 12}
        expect: {firing: [database_errors], silenced: [database_errors], notifications: {}}
      - at: 90m
        expect: {notifications: {}}
      - at: 120m
        expect: {silenced: [], notifications: {email: [database_errors firing]}}
      - at: 121m
        expect: {notifications: {}}
  - name: an alert notified before the window gets its due reminder once at the close
    steps:
      - at: 50m
        metrics: {databaseErrors: 12}
        expect: {notifications: {email: [database_errors firing]}}
      - at: 70m
        expect: {notifications: {}}
      - at: 120m
        expect: {notifications: {email: [database_errors reminder]}}
  - name: an alert that fires and resolves inside the window sends nothing
    steps:
      - at: 61m
        metrics: {databaseErrors: 12}
      - at: 70m
        metrics: {databaseErrors: 1}
        expect: {resolved: [database_errors], notifications: {}}
      - at: 120m
        expect: {notifications: {}}
  - name: an inhibited rule is notified at the first run its inhibitor is resolved
    steps:
      - at: 0m
        metrics: {databaseErrors: 12, errorRate: 0.09}
        expect: {inhibited: [api_errors], firing: [api_errors, database_errors],
                 notifications: {email: [database_errors firing]}}
      - at: 10m
        expect: {inhibited: [api_errors], notifications: {email: [database_errors reminder]}}
      - at: 11m
        metrics: {databaseErrors: 1}
        expect: {inhibited: [], notifications: {email: [database_errors resolved], slack: [api_errors firing]}}
  - name: inhibition never delays a resolution
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        expect: {notifications: {slack: [api_errors firing]}}
      - at: 1m
        metrics: {databaseErrors: 12}
        expect: {inhibited: [api_errors], notifications: {email: [database_errors firing]}}
      - at: 2m
        metrics: {errorRate: 0.01}
        expect: {resolved: [api_errors], notifications: {slack: [api_errors resolved]}}
  - name: a flapping rule sends one notice, then one more with its state once stable
    steps:
      - at: 0m
        metrics: {cpu: 95}
        expect: {notifications: {slack: [cpu firing]}}
      - at: 1m
        metrics: {cpu: 10}
        expect: {notifications: {slack: [cpu resolved]}}
      - at: 7m
        metrics: {cpu: 95}
        expect: {notifications: {slack: [cpu firing]}}
      - at: 8m
        metrics: {cpu: 10}
        expect: {status: {cpu: flapping}, resolved: [], notifications: {slack: [cpu flapping]}}
      - at: 9m
        metrics: {cpu: 95}
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 20m
        metrics: {cpu: 10}
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 49m
        expect: {status: {cpu: flapping}, notifications: {}}
      - at: 50m
        expect: {resolved: [cpu], status: {cpu: none}, notifications: {slack: [cpu resolved]}}
"""


def test_window_inhibition_and_flapping_timelines(cli):
    result = cases(cli, HOLD_RULES, HOLD_CASES)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "6 tests: 6 passed, 0 failed"


def test_the_source_alert_inhibits_every_rule(cli):
    cli.config.write_text(HOLD_RULES)
    breach = {"databaseErrors": 1, "errorRate": 0.01, "cpu": 95}
    fired = cli.check(breach, "--json", now=T0)
    assert fired.json()["fired"] == [f"cpu_{T0}"]
    for minute in (1, 2, 3):
        cli("check", "--metrics-file", str(cli.tmp / "missing.json"), now=T0 + minute * MINUTE)
    listed = {a["ruleId"]: a for a in cli("list", "--json", now=T0 + 3 * MINUTE).json()}
    assert listed["metrics_source_unavailable"]["inhibited"] is False
    assert listed["cpu"]["inhibited"] is True
    shown = cli("show", f"cpu_{T0}", "--json", now=T0 + 3 * MINUTE).json()
    assert [e["detail"] for e in shown["events"] if e["kind"] == "inhibited"] == [
        {"inhibitor": "metrics_source_unavailable"}
    ]
    back = cli.check(breach, "--json", now=T0 + 10 * MINUTE).json()
    assert back["resolved"] == [f"metrics_source_unavailable_{T0 + 3 * MINUTE}"]
    assert back["reminded"] == [f"cpu_{T0}"]  # the reminder held back while the source was down
    assert cli("list", "--json", now=T0 + 10 * MINUTE).json()[0]["inhibited"] is False

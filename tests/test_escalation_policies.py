"""Escalation policies: timelines through ``rules test --cases`` (in-process), a failing step's diff,
routes paging by policy, and a policy rule that flaps."""

from __future__ import annotations

from time_cases import POLICY_RULES, cases

POLICY_CASES = """
metrics: {errorRate: 0.01, p95: 100}
tests:
  - name: pages by time, reminds the reached channels, repeats the last step, resolves everywhere
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        expect: {step: {high_error_rate: 1}, notifications: {slack: [high_error_rate firing step 1]}}
      - at: 10m
        expect: {notifications: {slack: [high_error_rate reminder]}}
      - at: 14m
        expect: {step: {high_error_rate: 1}, notifications: {}}
      - at: 15m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
      - at: 25m
        expect: {notifications: {slack: [high_error_rate reminder], email: [high_error_rate reminder]}}
      - at: 45m
        expect: {step: {high_error_rate: 3}, notifications: {webhook: [high_error_rate escalated step 3]}}
      - at: 74m
        expect: {notifications: {slack: [high_error_rate reminder], email: [high_error_rate reminder],
                                 webhook: [high_error_rate reminder]}}
      - at: 75m
        expect: {notifications: {webhook: [high_error_rate escalated step 3]}}
      - at: 80m
        metrics: {errorRate: 0.01}
        expect:
          resolved: [high_error_rate]
          notifications:
            slack: [high_error_rate resolved]
            email: [high_error_rate resolved]
            webhook: [high_error_rate resolved]
  - name: an acknowledgement stops the steps; once it expires the timeline resumes where it stood
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
      - at: 5m
        ack: {high_error_rate: 20m}
      - at: 15m
        expect: {acknowledged: [high_error_rate], step: {high_error_rate: 1}, notifications: {}}
      - at: 26m
        expect: {status: {high_error_rate: firing}, notifications: {slack: [high_error_rate reminder]}}
      - at: 34m
        expect: {notifications: {}}
      - at: 35m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
  - name: a silence holds the steps back; all that fell due run in order at the first run after
    steps:
      - at: 0m
        metrics: {errorRate: 0.09}
        silence: {high_error_rate: 50m}
        expect: {silenced: [high_error_rate], notifications: {}}
      - at: 20m
        expect: {step: {high_error_rate: 0}, notifications: {}}
      - at: 51m
        expect:
          step: {high_error_rate: 3}
          silenced: []
          notifications:
            slack: [high_error_rate firing step 1]
            email: [high_error_rate escalated step 2]
            webhook: [high_error_rate escalated step 3]
  - name: a rule without a policy keeps the count escalation
    steps:
      - at: 0m
        metrics: {p95: 2500}
        expect: {notifications: {console: [slow firing]}}
      - at: 10m
        expect: {notifications: {console: [slow reminder]}}
      - at: 20m
        expect: {severity: {slow: critical}, notifications: {console: [slow escalated], webhook: [slow escalated]}}
"""


def test_escalation_policy_timelines(cli):
    result = cases(cli, POLICY_RULES, POLICY_CASES)
    assert result.code == 0, result.out + result.err
    assert result.out.splitlines()[-1] == "4 tests: 4 passed, 0 failed"


def test_a_step_asserted_too_early_fails_with_a_diff(cli):
    early = """
tests:
  - name: too early
    steps:
      - at: 0m
        metrics: {errorRate: 0.09, p95: 1}
      - at: 10m
      - at: 14m
        expect: {step: {high_error_rate: 2}, notifications: {email: [high_error_rate escalated step 2]}}
"""
    result = cases(cli, POLICY_RULES, early)
    assert result.code == 1
    assert result.out.splitlines() == [
        "FAIL  too early",
        "      at 14m: step.high_error_rate (- expected, + got)",
        "        - 2",
        "        + 1",
        "      at 14m: notifications.email (- expected, + got)",
        "        - high_error_rate escalated step 2",
        "1 test: 0 passed, 1 failed",
    ]


def test_a_route_pages_a_severity_by_policy_and_a_rule_s_own_policy_wins(cli):
    rules = POLICY_RULES.replace(
        "rules:\n",
        "  quick:\n    - {after: 0m, channels: [console]}\n"
        "routes: {critical: {policy: quick}, high: {policy: quick}}\nrules:\n",
        1,
    )
    text = """
tests:
  - name: routed
    steps:
      - at: 0m
        metrics: {errorRate: 0.09, p95: 2500}
        expect:
          step: {high_error_rate: 1, slow: 1}
          notifications: {slack: [high_error_rate firing step 1], console: [slow firing step 1]}
      - at: 10m
        expect: {notifications: {slack: [high_error_rate reminder], console: [slow reminder]}}
      - at: 20m
        expect:
          severity: {slow: high}
          notifications: {email: [high_error_rate escalated step 2], console: [slow reminder]}
"""
    result = cases(cli, rules, text)
    assert result.code == 0, result.out


def test_a_policy_rule_that_flaps_gets_its_flapping_notice(cli):
    rules = POLICY_RULES.replace("rules:\n", "flapping: {transitions: 3, window: 30m}\nrules:\n", 1).replace(
        "    cooldown: 10m\n    channels: [slack]\n", "    cooldown: 0m\n    channels: [slack]\n", 1
    )
    text = """
tests:
  - name: flaps
    steps:
      - {at: 0m, metrics: {errorRate: 0.09, p95: 1}, expect: {notifications: {slack: [high_error_rate firing step 1]}}}
      - {at: 1m, metrics: {errorRate: 0.01}, expect: {notifications: {slack: [high_error_rate resolved]}}}
      - at: 2m
        metrics: {errorRate: 0.09}
        expect: {status: {high_error_rate: flapping}, notifications: {slack: [high_error_rate flapping]}}
      - {at: 20m, expect: {status: {high_error_rate: flapping}, notifications: {}}}
"""
    result = cases(cli, rules, text)
    assert result.code == 0, result.out

"""source.prometheus against a real Prometheus.

One Prometheus per module.  Each test makes it hold the series it needs
(recording rules the test rewrites, see ``promstack``), waits (bounded) until
the query API answers them, then runs the real ``check`` with
``PANTRY_ALERT_NOW`` at the real time, since Prometheus answers for the
instant it is asked about.
"""

from __future__ import annotations

import time

import pytest
import yaml
from conftest import ROOT, Cli, free_port
from promstack import Prometheus

pytestmark = pytest.mark.slow  # real servers and processes

EXAMPLE = ROOT / "examples" / "prometheus-rules.yaml"
SHIPPED_IDS = [
    "high_response_time",
    "high_error_rate",
    "memory_usage_high",
    "database_connection_issues",
    "failed_login_attempts",
]
# The gauges, as the example config queries them.
BREACH = {
    "pantry_http_response_time_p95_milliseconds": 2500,
    "pantry_http_error_ratio": 0.0734,
    "nodejs_heap_size_used_bytes": 900,
    "nodejs_heap_size_total_bytes": 1000,
    "pantry_database_errors_last_hour": 12,
    "pantry_failed_logins_last_hour": 75,
}
HEALTHY = {
    "pantry_http_response_time_p95_milliseconds": 420,
    "pantry_http_error_ratio": 0.002,
    "nodejs_heap_size_used_bytes": 410,
    "nodejs_heap_size_total_bytes": 1000,
    "pantry_database_errors_last_hour": 0,
    "pantry_failed_logins_last_hour": 3,
}
# Two series of one metric, for the "several samples" case.
IN_FLIGHT = {
    'pantry_http_requests_in_flight{route="/api/items"}': 3,
    'pantry_http_requests_in_flight{route="/api/orders"}': 4,
}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    server = Prometheus(tmp_path_factory.mktemp("prometheus"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def served(server: Prometheus, values: dict) -> None:
    """Make Prometheus hold ``values`` (and the two in-flight series) and wait until it answers them."""
    server.serve({**values, **IN_FLIGHT})


def config_for(cli: Cli, url: str, extra_queries: dict | None = None, extra_rules: list | None = None) -> dict:
    """The shipped example, pointed at the test's Prometheus, with console only."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["source"]["prometheus"]["url"] = url
    data["source"]["prometheus"]["queries"].update(extra_queries or {})
    data["escalation"]["add_channels"] = []
    for rule in data["rules"]:
        rule["channels"] = ["console"]
    data["rules"] += extra_rules or []
    cli.config.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def real_now() -> int:
    return int(time.time() * 1000)


def test_the_example_holds_the_shipped_rules_unchanged():
    shipped = yaml.safe_load((ROOT / "rules.yaml").read_text())["rules"]
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example["rules"] == shipped
    assert [r["id"] for r in shipped] == SHIPPED_IDS
    paths = set(example["source"]["prometheus"]["queries"])
    assert paths == {
        "p95ResponseTime",
        "errorRate",
        "memoryUsage.current.heapUsed",
        "memoryUsage.current.heapTotal",
        "databaseErrors",
        "failedLogins",
    }


def test_the_shipped_rules_fire_and_resolve_on_prometheus_data(prometheus, tmp_path):
    server = prometheus
    cli = Cli(tmp_path)
    config_for(cli, server.url)

    served(server, BREACH)
    fired = cli("check", "--json", now=real_now())
    assert fired.code == 0, fired.err
    summary = fired.json()
    assert sorted(a.rsplit("_", 1)[0] for a in summary["fired"]) == sorted(SHIPPED_IDS)
    assert summary["errors"] == []
    listed = {a["ruleId"]: a for a in cli("list", "--json").json()}
    assert {rule: a["description"] for rule, a in listed.items()} == {
        "high_response_time": "95th percentile response time is 2500.00ms (threshold: 2000ms)",
        "high_error_rate": "Error rate is 7.34% (threshold: 5%)",
        "memory_usage_high": "Memory usage is 90.0% (threshold: 85%)",
        "database_connection_issues": "12 database errors in the last hour (threshold: 10)",
        "failed_login_attempts": "75 failed login attempts in the last hour (threshold: 50)",
    }
    # Whole numbers arrive as integers, fractions as floats.
    assert listed["database_connection_issues"]["metadata"]["metrics"] == {"databaseErrors": 12}
    assert listed["high_error_rate"]["metadata"]["metrics"] == {"errorRate": 0.0734}

    served(server, HEALTHY)
    resolved = cli("check", "--json", now=real_now())
    assert resolved.code == 0, resolved.err
    assert sorted(resolved.json()["resolved"]) == sorted(summary["fired"])
    assert cli("list", "--json").json() == []


def test_per_query_problems_make_only_their_rules_unevaluable(prometheus, tmp_path):
    server = prometheus
    cli = Cli(tmp_path)
    queries = {
        "inFlight": "pantry_http_requests_in_flight",
        "queueDepth": "max(pantry_queue_depth_that_nobody_exports)",
        "broken": "max(pantry_http_error_ratio",
        "ratio": "max(pantry_http_error_ratio) / 0",
    }

    def rule(rule_id: str, when: str) -> dict:
        return {"id": rule_id, "name": rule_id, "type": "performance", "severity": "low", "when": when}

    rules = [
        rule("in_flight_high", "inFlight > 5"),
        rule("queue_deep", "queueDepth > 100"),
        rule("broken_query", "broken > 0.1"),
        rule("ratio_nan", "ratio > 1"),
    ]
    config_for(cli, server.url, queries, rules)
    served(server, BREACH)
    result = cli("check", "--json", now=real_now())
    assert result.code == 1, result.err
    summary = result.json()
    assert len(summary["fired"]) == 5  # the shipped rules still run
    errors = {e["rule"]: e["error"] for e in summary["errors"]}
    assert set(errors) == {"in_flight_high", "queue_deep", "broken_query", "ratio_nan"}
    assert errors["in_flight_high"].startswith(
        "metric 'inFlight' (Prometheus query 'pantry_http_requests_in_flight'): 2 samples ("
    )
    assert errors["in_flight_high"].endswith("a metric needs one: aggregate it, e.g. max(...) or sum(...)")
    assert 'route="/api/items"' in errors["in_flight_high"]
    assert errors["queue_deep"] == (
        "metric 'queueDepth' (Prometheus query 'max(pantry_queue_depth_that_nobody_exports)'): "
        "empty result (no series matched at that time)"
    )
    assert errors["broken_query"].startswith(
        "metric 'broken' (Prometheus query 'max(pantry_http_error_ratio'): Prometheus error bad_data: "
    )
    assert errors["ratio_nan"].startswith("metric 'ratio' (Prometheus query 'max(pantry_http_error_ratio) / 0'): ")
    assert "Inf" in errors["ratio_nan"]
    # The human output names the rule and the query.
    human = cli("check", now=real_now())
    assert human.code == 1
    assert (
        "warning: rule 'queue_deep' could not be evaluated: metric 'queueDepth' (Prometheus query "
        "'max(pantry_queue_depth_that_nobody_exports)'): empty result (no series matched at that time)"
    ) in human.err


def test_nan_is_a_per_query_problem(prometheus, tmp_path):
    server = prometheus
    cli = Cli(tmp_path)
    rules = [{"id": "nan_rule", "name": "NaN", "type": "performance", "severity": "low", "when": "zeroByZero > 1"}]
    config_for(cli, server.url, {"zeroByZero": "max(pantry_database_errors_last_hour) / 0"}, rules)
    served(server, HEALTHY)  # 0 / 0
    result = cli("check", "--json", now=real_now())
    assert result.code == 1
    assert result.json()["errors"] == [
        {
            "rule": "nan_rule",
            "error": "metric 'zeroByZero' (Prometheus query 'max(pantry_database_errors_last_hour) / 0'): "
            "NaN (e.g. a division by zero or a rate over too few samples)",
        }
    ]


def test_a_scalar_query_gives_its_number(prometheus, tmp_path):
    server = prometheus
    cli = Cli(tmp_path)
    rules = [{"id": "scalar_rule", "name": "Scalar", "type": "business", "severity": "low", "when": "answer > 41"}]
    config_for(cli, server.url, {"answer": "scalar(vector(42))"}, rules)
    served(server, HEALTHY)
    result = cli("check", "--json", now=real_now())
    assert result.code == 0, result.err
    fired = [a for a in result.json()["fired"] if a.startswith("scalar_rule_")]
    assert len(fired) == 1
    shown = cli("show", fired[0], "--json").json()
    assert shown["metadata"]["metrics"] == {"answer": 42}


def test_an_unreachable_prometheus_is_a_source_failure(tmp_path):
    cli = Cli(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"
    config_for(cli, url)
    result = cli("check", "--json", now=real_now())
    assert result.code == 3
    errors = result.json()["errors"]
    assert errors[-1]["rule"] == "metrics_source_unavailable"
    refused = "connection refused (nothing listens on that host and port?)"
    assert errors[-1]["error"] == (
        f"Prometheus {url} answered none of 6 queries: p95ResponseTime: {refused}; "
        f"errorRate: {refused}; memoryUsage.current.heapUsed: {refused} (and 3 more)"
    )
    human = cli("check", now=real_now())
    assert human.code == 3
    assert f"error: Prometheus {url} answered none of 6 queries" in human.err


def test_the_command_line_wins_over_source_prometheus(tmp_path):
    cli = Cli(tmp_path)
    config_for(cli, f"http://127.0.0.1:{free_port()}")  # nothing listens: it must not be asked
    result = cli.check(
        {
            "p95ResponseTime": 2500,
            "errorRate": 0,
            "memoryUsage": {"current": {"heapUsed": 1, "heapTotal": 2}},
            "databaseErrors": 0,
            "failedLogins": 0,
        },
        "--json",
    )
    assert result.code == 0, result.err
    assert [a.rsplit("_", 1)[0] for a in result.json()["fired"]] == ["high_response_time"]


RULE = "rules:\n  - {id: r, name: R, type: business, severity: low, when: a > 1}\n"


@pytest.mark.parametrize(
    "source, problem",
    [
        (
            "{url: 'http://app/metrics', prometheus: {url: 'http://prom:9090', queries: {a: up}}}",
            "source: give one of url, file or prometheus, not url and prometheus",
        ),
        ("{prometheus: {queries: {a: up}}}", "source.prometheus: needs the Prometheus server's url"),
        (
            "{prometheus: {url: 'ftp://prom', queries: {a: up}}}",
            "'ftp://prom' is not a valid URL (absolute http(s) URL expected)",
        ),
        ("{prometheus: {url: 'http://prom:9090'}}", "needs queries: a mapping of metric paths"),
        (
            "{prometheus: {url: 'http://prom:9090', queries: {a-b: up}}}",
            "source.prometheus.queries.a-b: 'a-b' is not a metric path",
        ),
        ("{prometheus: {url: 'http://prom:9090', queries: {a: ''}}}", "queries.a: must be a PromQL expression"),
        (
            "{prometheus: {url: 'http://prom:9090', queries: {a: up, a.b: up}}}",
            "'a.b' lies inside 'a', which is a query of its own",
        ),
        ("{prometheus: {url: 'http://prom:9090', queries: {a: up}, step: 1m}}", "unknown key 'step'"),
        ("{prometheus: {url: 'http://prom:9090', queries: {a: up}, timeout: 0s}}", "timeout: must be more than 0"),
        ("{path: data, prometheus: {url: 'http://prom:9090', queries: {a: up}}}", "source.path: applies to a JSON"),
    ],
)
def test_bad_prometheus_sources_are_configuration_errors(tmp_path, source, problem):
    cli = Cli(tmp_path)
    cli.config.write_text(f"source: {source}\n{RULE}")
    result = cli("rules", "validate")
    assert result.code == 2, result.err
    assert problem in result.err
    assert cli("check").code == 2
    assert not cli.db.exists()


def test_queries_are_asked_at_the_runs_now(prometheus, tmp_path):
    """PANTRY_ALERT_NOW an hour back: Prometheus had no samples then, so every query is empty."""
    server = prometheus
    cli = Cli(tmp_path)
    config_for(cli, server.url)
    served(server, BREACH)
    result = cli("check", "--json", now=real_now() - 3_600_000)
    assert result.code == 1, result.err
    summary = result.json()
    assert summary["fired"] == []
    assert {e["rule"] for e in summary["errors"]} == set(SHIPPED_IDS)
    assert all(e["error"].endswith("empty result (no series matched at that time)") for e in summary["errors"])

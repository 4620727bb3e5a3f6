"""With source.prometheus, the metric history holds what each run's queries returned, and a
window function works over those runs (a real Prometheus)."""

from __future__ import annotations

import pytest
from conftest import Cli
from test_history import stored
from test_prometheus_source import BREACH, HEALTHY, config_for, prometheus, real_now, served  # noqa: F401 (a fixture)

DELTA_RULE = {
    "id": "database_errors_climbing",
    "name": "Database errors climbing",
    "type": "error",
    "severity": "high",
    "when": 'delta(databaseErrors, "1h") > 5',
    "channels": ["console"],
}


@pytest.mark.slow
def test_the_history_holds_what_each_prometheus_run_read(prometheus, tmp_path):  # noqa: F811
    server = prometheus
    cli = Cli(tmp_path)
    config_for(cli, server.url, extra_rules=[DELTA_RULE])

    served(server, HEALTHY)
    first = cli("check", "--json", now=real_now())
    assert first.code == 1  # the window has one sample: not enough history
    assert [e["rule"] for e in first.json()["errors"]] == ["database_errors_climbing"]

    served(server, BREACH)
    second = cli("check", "--json", now=real_now())
    assert second.code == 0, second.err
    assert any(a.startswith("database_errors_climbing_") for a in second.json()["fired"])
    climbing = next(a for a in cli("list", "--json").json() if a["ruleId"] == "database_errors_climbing")
    assert climbing["metadata"]["metrics"] == {'delta(databaseErrors, "1h")': 12}

    runs = stored(cli.db)
    assert [values for _, values in runs] == [
        {
            "p95ResponseTime": 420,
            "errorRate": 0.002,
            "memoryUsage.current.heapUsed": 410,
            "memoryUsage.current.heapTotal": 1000,
            "databaseErrors": 0,
            "failedLogins": 3,
        },
        {
            "p95ResponseTime": 2500,
            "errorRate": 0.0734,
            "memoryUsage.current.heapUsed": 900,
            "memoryUsage.current.heapTotal": 1000,
            "databaseErrors": 12,
            "failedLogins": 75,
        },
    ]

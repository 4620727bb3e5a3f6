"""The metric history through the command line: what a check stores, window rules end to end,
configuration errors, prune, ``metrics``, ``show``'s sparklines and the API route."""

from __future__ import annotations

import struct

import pytest
from conftest import MINUTE, T0, lines, ok, rows

DAY = 24 * 60 * MINUTE

SPIKE_RULE = """
  - id: error_spike
    name: Error Spike
    type: error
    severity: high
    when: avg_over(errorRate, "5m") > 0.05
    resolve_when: max_over(errorRate, "3m") < 0.01
    channels: [console]
    description: "Error rate averages {{ value }} (now {{ errorRate }}, {{ memory.heap }} heap)"
"""
CPU_RULE = """
  - id: cpu_high
    name: CPU High
    type: performance
    severity: low
    when: cpu > 90
    channels: [console]
"""
WINDOW_RULES = "rules:" + SPIKE_RULE + CPU_RULE


def stored(db) -> list[tuple[int, dict[str, float]]]:
    """Every stored run, decoded by hand from the table's documented encoding."""
    paths = dict(rows(db, "SELECT id, path FROM metric_paths"))
    layouts = {
        i: [paths[int(p)] for p in key.split(",")] for i, key in rows(db, "SELECT id, path_ids FROM metric_layouts")
    }
    out = []
    for at, layout, data in rows(db, "SELECT at, layout, data FROM metric_samples ORDER BY at"):
        values = struct.unpack(f"<{len(data) // 8}d", data)
        out.append((at, dict(zip(layouts[layout], values, strict=True))))
    return out


def test_a_check_stores_the_numbers_its_rules_read_and_a_dry_run_stores_none(simple):
    cli = simple
    cli.config.write_text(WINDOW_RULES)
    doc = {"errorRate": 0.01, "cpu": 20, "memory": {"heap": 300, "total": 900}, "other": 5, "name": "x"}
    cli.check(doc, now=T0)  # not enough history yet: exit 1, but the sample is kept
    cli.check({**doc, "cpu": "busy"}, now=T0 + MINUTE)  # a non-number is not stored
    ok(cli.check({**doc, "errorRate": 0.02}, "--dry-run", now=T0 + 2 * MINUTE))
    assert stored(cli.db) == [
        (T0, {"errorRate": 0.01, "memory.heap": 300.0, "cpu": 20.0}),
        (T0 + MINUTE, {"errorRate": 0.01, "memory.heap": 300.0}),
    ]


def test_history_off_stores_nothing_and_a_window_function_is_then_a_config_error(simple):
    cli = simple
    cli.config.write_text("history: {enabled: false}\nrules:" + SPIKE_RULE)
    result = cli.check({"errorRate": 0.2}, now=T0)
    assert result.code == 2
    config = cli.config
    assert lines(result.err)[1:3] == [
        f"  {config}:7: rule 'error_spike': rules.0.when: avg_over(errorRate, \"5m\") reads the metric history, "
        "which is turned off (history: {enabled: false}); turn it on or use a plain condition",
        f"  {config}:8: rule 'error_spike': rules.0.resolve_when: max_over(errorRate, \"3m\") reads the metric "
        "history, which is turned off (history: {enabled: false}); turn it on or use a plain condition",
    ]
    cli.config.write_text("history: {enabled: false}\nrules:" + CPU_RULE)
    ok(cli.check({"cpu": 95}, now=T0))
    assert rows(cli.db, "SELECT COUNT(*) FROM metric_samples") == [(0,)]


def test_a_window_longer_than_the_retention_is_a_config_error(simple):
    cli = simple
    cli.config.write_text(
        "history: {retention: 1d}\n" + WINDOW_RULES.replace('avg_over(errorRate, "5m")', 'pct_change(errorRate, "20h")')
    )
    result = cli("rules", "validate")
    assert result.code == 2
    assert (
        f"  {cli.config}:7: rule 'error_spike': rules.0.when: pct_change(errorRate, \"20h\") reads 30h back, "
        "longer than history.retention (1d) keeps samples"
    ) in lines(result.err)


def test_a_window_rule_waits_for_history_then_fires_and_resolves_on_it(simple):
    cli = simple
    cli.config.write_text(WINDOW_RULES)
    doc = {"cpu": 20, "memory": {"heap": 300}}
    first = cli.check({**doc, "errorRate": 0.09}, "--json", now=T0)
    assert first.code == 1
    assert first.json()["errors"] == [
        {
            "rule": "error_spike",
            "error": 'not enough history for avg_over(errorRate, "5m"): 1 sample in the last 5m (a window needs at least 2)',
        }
    ]
    assert "error_spike" in first.err and rows(cli.db, "SELECT COUNT(*) FROM alerts") == [(0,)]
    # (0.09 + 0.03) / 2 = 0.06 > 0.05: fires, its value keyed by the call's text
    fired = cli.check({**doc, "errorRate": 0.03}, "--json", now=T0 + MINUTE)
    assert fired.code == 0, fired.err
    assert fired.json()["fired"] == [f"error_spike_{T0 + MINUTE}"]
    alert = cli("list", "--json").json()[0]
    assert alert["metadata"]["metrics"] == {'avg_over(errorRate, "5m")': pytest.approx(0.06)}
    assert alert["description"] == "Error rate averages 0.06 (now 0.03, 300 heap)"
    # below the threshold, but the last 3 minutes still hold 0.03: no resolve
    for minute in (2, 3):
        ok(cli.check({**doc, "errorRate": 0.001}, now=T0 + minute * MINUTE))
    assert [a["status"] for a in cli("list", "--json").json()] == ["firing"]
    # 0.001, 0.001, 0.001 in (now - 3m, now]: resolves
    resolved = cli.check({**doc, "errorRate": 0.001}, "--json", now=T0 + 4 * MINUTE)
    assert resolved.json()["resolved"] == [f"error_spike_{T0 + MINUTE}"]


def test_prune_removes_samples_older_than_the_history_retention_whatever_older_than_says(simple):
    cli = simple
    cli.config.write_text("history: {retention: 2d}\n" + WINDOW_RULES)
    for day in range(4):
        cli.check({"errorRate": 0.0, "cpu": day}, now=T0 + day * DAY)
    now = T0 + 3 * DAY + MINUTE  # cutoff: T0 + 1d + 1m; the runs of T0 and T0 + 1d go
    dry = cli("prune", "--dry-run", "--older-than", "30d", now=now)
    ok(dry)
    assert "  metric samples of 2 run(s) before 2025-11-27 12:01:00 UTC (history.retention)" in lines(dry.out)
    assert len(stored(cli.db)) == 4
    ok(cli("prune", "--older-than", "30d", now=now))
    assert [at for at, _ in stored(cli.db)] == [T0 + 2 * DAY, T0 + 3 * DAY]
    again = cli("prune", now=now)
    ok(again)
    assert "metric samples" not in again.out


SERIES = [(0, 1), (1, 3), (2, 2), (3, 8.5)]  # (minute, cpu)


@pytest.fixture
def charted(simple):
    cli = simple
    cli.config.write_text("rules:" + CPU_RULE)
    for minute, cpu in SERIES:
        cli.check({"cpu": cpu, "errorRate": 0.0, "memory": {"heap": 1}}, now=T0 + minute * MINUTE)
    return cli


def test_metrics_prints_the_samples_as_json_csv_and_a_chart(charted):
    cli = charted
    now = T0 + 5 * MINUTE
    as_json = cli("metrics", "cpu", "--json", now=now)
    ok(as_json)
    assert as_json.json() == [{"at": T0 + m * MINUTE, "value": v} for m, v in SERIES]
    ok(
        cli("metrics", "cpu", "--csv", "--since", "3m", now=now),
        "at,value\n2025-11-26T12:02:00.000Z,2\n2025-11-26T12:03:00.000Z,8.5\n",
    )
    chart = cli("metrics", "cpu", now=now)
    ok(chart)
    assert lines(chart.out) == [
        "cpu: 4 samples in the last 6h",
        "8.5 ┤   █",
        "    ┤   █",
        "    ┤   █",
        "    ┤   █",
        "    ┤   █",
        "    ┤ ▂ █",  # 3 reaches 2/8 into the third row: (3 - 1) / 7.5 of 64 eighths, rounded, + 1
        "    ┤ █▁█",
        "  1 ┤▁███",
        "    └────",
        "     2025-11-26T12:00:00.000Z 2025-11-26T12:03:00.000Z",
        "min 1   max 8.5   last 8.5",
    ]
    ok(cli("metrics", "never.recorded", now=now), "No samples of never.recorded in the last 6h.\n")
    ok(cli("metrics", "never.recorded", "--json", now=now), "[]\n")
    assert cli("metrics", "cpu", "--json", "--csv", now=now).code == 2


def test_show_draws_a_sparkline_of_each_value_the_rule_reads(charted):
    cli = charted
    ok(cli.check({"cpu": 95, "errorRate": 0.0, "memory": {"heap": 1}}, now=T0 + 4 * MINUTE))
    shown = cli("show", f"cpu_high_{T0 + 4 * MINUTE}", now=T0 + 5 * MINUTE)
    ok(shown)
    assert "Metrics from 1h before firing to resolution:" in shown.out
    assert "  cpu  ▁▁▁▂█  min 1  max 95  last 95" in lines(shown.out)


def test_the_api_returns_the_samples_in_the_envelope(charted):
    import asyncio

    import httpx

    from pantry_alert.http.app import create_app
    from pantry_alert.http.context import ServerContext

    cli = charted
    env = cli.environment(now=T0 + 5 * MINUTE)
    ctx = ServerContext(config_path=str(cli.config), db=str(cli.db), env=env, token="t0ken")
    ctx.load()
    route = "/api/metrics/history"

    async def requests():
        transport = httpx.ASGITransport(app=create_app(ctx))
        headers = {"Authorization": "Bearer t0ken"}
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            answer = await client.get(route, params={"path": "cpu", "since": "2m"})
            assert answer.status_code == 200
            assert answer.json() == {"success": True, "data": [{"at": T0 + 3 * MINUTE, "value": 8.5}]}
            assert (await client.get(route, params={"path": "nope"})).json()["data"] == []
            assert len((await client.get(route, params={"path": "cpu"})).json()["data"]) == 4
            for params in ({}, {"path": "cpu", "since": "soon"}, {"path": "x" * 501}):
                refused = await client.get(route, params=params)
                assert refused.status_code == 400 and refused.json()["success"] is False
            anonymous = await client.get(route, params={"path": "cpu"}, headers={"Authorization": ""})
            assert anonymous.status_code == 401

    asyncio.run(requests())


def test_rule_cases_feed_window_functions_from_their_earlier_steps(cli):
    cli.config.write_text("rules:" + SPIKE_RULE)
    cases = cli.tmp / "cases.yaml"
    cases.write_text(
        """
metrics: {errorRate: 0.0, memory: {heap: 1}}
tests:
  - name: a spike averaged over 5 minutes fires, then resolves once 3 minutes stay low
    steps:
      - {at: 0m, metrics: {errorRate: 0.09}, expect: {firing: []}}
      - {at: 1m, metrics: {errorRate: 0.03}, expect: {firing: [error_spike]}}
      - {at: 3m, metrics: {errorRate: 0.001}, expect: {firing: [error_spike]}}
      - {at: 5m, metrics: {errorRate: 0.001}, expect: {firing: [], resolved: [error_spike]}}
"""
    )
    result = cli("rules", "test", "--cases", str(cases))
    assert (result.code, result.out) == (
        0,
        "PASS  a spike averaged over 5 minutes fires, then resolves once 3 minutes stay low\n"
        "1 test: 1 passed, 0 failed\n",
    ), result.err


def test_an_answer_holds_the_newest_samples_up_to_the_limit(charted, monkeypatch):
    from pantry_alert import history
    from pantry_alert.store import open_store

    monkeypatch.setattr(history, "MAX_SAMPLES", 2)
    with open_store(charted.db, readonly=True) as store:
        assert history.samples(store, "cpu", now=T0 + 5 * MINUTE) == [
            {"at": T0 + 2 * MINUTE, "value": 2},
            {"at": T0 + 3 * MINUTE, "value": 8.5},
        ]

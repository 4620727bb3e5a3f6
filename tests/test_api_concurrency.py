"""``serve`` under load beside repeated, overlapping ``check`` runs: nothing lost, nothing sent twice."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter

import pytest
from api_server import ApiServer
from conftest import MINUTE, T0
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.slow  # real servers and processes

CONFIG = """
rules:
{rules}
"""
RULE = """  - id: {id}
    name: {id}
    type: performance
    severity: low
    when: {id} > 90
    cooldown: 1m
    channels: [webhook]
"""
RULES = ("cpu", "mem", "disk", "swap")
STEPS = 10


def test_serve_beside_repeated_checks_loses_nothing_and_sends_nothing_twice(cli):
    cli.config.write_text(CONFIG.format(rules="".join(RULE.format(id=r) for r in RULES)))
    breach = {r: 99 for r in RULES}
    with HTTPServer(host="127.0.0.1") as hook:
        hook.expect_request("/hook", method="POST").respond_with_data("ok")
        env = {"ALERT_WEBHOOK_URL": hook.url_for("/hook")}
        assert cli.check(breach, now=T0, env=env).code == 0  # the database exists before the load starts
        outcomes: Counter = Counter()
        stop = threading.Event()

        with ApiServer(cli, now=T0) as server:

            def load() -> None:
                turn = 0
                while not stop.is_set():
                    active = server.client.get("/api/alerts")
                    outcomes[("list", active.status_code)] += 1
                    outcomes[("stats", server.client.get("/api/alerts/stats").status_code)] += 1
                    for alert in active.json()["data"]:
                        turn += 1
                        action = "resolve" if turn % 3 == 0 else "acknowledge"
                        response = server.client.post(f"/api/alerts/{alert['id']}/{action}", json={"by": "load"})
                        outcomes[(action, response.status_code)] += 1

            workers = [threading.Thread(target=load) for _ in range(3)]
            for worker in workers:
                worker.start()
            try:
                for step in range(1, STEPS + 1):
                    now = T0 + step * MINUTE
                    path = cli.metrics(breach, f"metrics-{now}.json")
                    runs = [cli.popen("check", "--metrics-file", str(path), now=now, env=env) for _ in range(2)]
                    for run in runs:  # two overlapping runs per minute
                        out, err = run.communicate(timeout=120)
                        assert run.returncode == 0, err
            finally:
                stop.set()
                for worker in workers:
                    worker.join(timeout=60)
            assert "internal error" not in server.log()
        # one quiet run sends what the last API actions recorded (resolved notices)
        assert cli.check(breach, now=T0 + (STEPS + 1) * MINUTE, env=env).code == 0

        received = [request.headers["Idempotency-Key"] for request, _ in hook.log]
        bodies = [json.loads(request.get_data()) for request, _ in hook.log]

    statuses = {code for (_, code) in outcomes}
    assert statuses <= {200, 404, 409}, outcomes  # never 5xx: the lock waits were short
    assert outcomes[("acknowledge", 200)] > 0 and outcomes[("resolve", 200)] > 0, outcomes
    assert outcomes[("list", 200)] > 20, outcomes

    db = sqlite3.connect(cli.db)
    rows = db.execute("SELECT idempotency_key, status, kind FROM notifications WHERE channel = 'webhook'").fetchall()
    assert {status for _, status, _ in rows} == {"sent"}  # nothing pending, failed or lost
    assert Counter(received) == Counter(key for key, _, _ in rows)  # each notification exactly once
    assert len(received) == len(set(received))
    kinds = Counter(kind for _, _, kind in rows)
    assert kinds["firing"] > 0 and kinds["resolved"] > 0
    assert Counter(b["event"] for b in bodies) == kinds
    # every action the API answered 200 is in the timeline, once
    events = dict(
        db.execute(
            "SELECT kind, COUNT(*) FROM events WHERE kind IN ('acknowledged', 'resolved') "
            "AND json_extract(detail, '$.by') = 'load' GROUP BY kind"
        ).fetchall()
    )
    assert events.get("acknowledged", 0) == outcomes[("acknowledge", 200)]
    assert events.get("resolved", 0) == outcomes[("resolve", 200)]

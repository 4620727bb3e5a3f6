"""``serve`` under load beside overlapping ``check`` runs (the installed command, several started together
each minute): nothing lost, nothing sent twice."""

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
STEPS = 2  # minutes, each with RUNS checks started together
RUNS = 3
WAIT = 60  # seconds: only a hang waits this long


class Load:
    """Three threads reading and acting through the API until stopped.  ``writes`` counts the actions
    answered 200; ``until(key, more_than)`` waits until more than that many answers were ``key``."""

    def __init__(self, client) -> None:
        self.client = client
        self.outcomes: Counter = Counter()
        self.writes = 0
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(3)]

    def count(self, key: tuple[str, int]) -> None:
        with self.changed:
            self.outcomes[key] += 1
            self.writes += key[0] in ("acknowledge", "resolve") and key[1] == 200
            self.changed.notify_all()

    def until(self, key: tuple[str, int], more_than: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.outcomes[key] > more_than, timeout=WAIT), self.outcomes

    def run(self) -> None:
        turn = 0
        while not self.stop.is_set():
            active = self.client.get("/api/alerts")
            self.count(("list", active.status_code))
            self.count(("stats", self.client.get("/api/alerts/stats").status_code))
            for alert in active.json()["data"]:
                turn += 1
                action = "resolve" if turn % 3 == 0 else "acknowledge"
                response = self.client.post(f"/api/alerts/{alert['id']}/{action}", json={"by": "load"})
                self.count((action, response.status_code))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=WAIT)


def test_serve_beside_repeated_checks_loses_nothing_and_sends_nothing_twice(cli):
    cli.config.write_text(CONFIG.format(rules="".join(RULE.format(id=r) for r in RULES)))
    breach = {r: 99 for r in RULES}
    with HTTPServer(host="127.0.0.1") as hook:
        hook.expect_request("/hook", method="POST").respond_with_data("ok")
        env = {"ALERT_WEBHOOK_URL": hook.url_for("/hook")}
        assert cli.check(breach, now=T0, env=env).code == 0  # the database exists before the load starts

        with ApiServer(cli, now=T0) as server, Load(server.client) as load:
            overlapping = []  # per minute, the API's writes that landed while its runs were going
            for step in range(1, STEPS + 1):
                load.until(("list", 200), more_than=load.outcomes[("list", 200)])  # the API has read the last runs
                now = T0 + step * MINUTE
                path = cli.metrics(breach, f"metrics-{now}.json")
                runs = [cli.popen("check", "--metrics-file", str(path), now=now, env=env) for _ in range(RUNS)]
                assert all(run.poll() is None for run in runs)  # all started before any ended: they overlap
                writes = load.writes
                for run in runs:
                    out, err = run.communicate(timeout=WAIT)
                    assert run.returncode == 0, err
                overlapping.append(load.writes - writes)
            # the API wrote while runs were going (each write waits for the run lock, as each run does)
            assert sum(overlapping) > 0, (overlapping, load.outcomes)
            load.until(("resolve", 200), more_than=0)
            outcomes = load.outcomes
            assert "internal error" not in server.log()
        # one quiet run sends what the last API actions recorded (resolved notices)
        assert cli.check(breach, now=T0 + (STEPS + 1) * MINUTE, env=env).code == 0

        received = [request.headers["Idempotency-Key"] for request, _ in hook.log]
        bodies = [json.loads(request.get_data()) for request, _ in hook.log]

    statuses = {code for (_, code) in outcomes}
    assert statuses <= {200, 404, 409}, outcomes  # never 5xx: the lock waits were short
    assert outcomes[("acknowledge", 200)] > 0 and outcomes[("resolve", 200)] > 0, outcomes
    assert outcomes[("list", 200)] > 0 and outcomes[("stats", 200)] > 0, outcomes

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

"""Reads never wait for writes: writes held up by the run lock leave every read thread free."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from api_server import TOKEN, ApiServer
from conftest import BREACH_METRICS

from pantry_alert.store import run_lock


@pytest.mark.slow
def test_healthz_and_reads_answer_while_60_writes_wait_for_the_run_lock(cli):
    assert cli.check(BREACH_METRICS).code == 0
    alert = cli("list", "--json").json()[0]["id"]
    # one client (a connection each) for the 60 writers: a client per request costs more CPU than the test
    writes = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    with ApiServer(cli) as server, writes:
        with run_lock(cli.db, 1000):

            def write() -> None:
                try:
                    writes.post(f"{server.base}/api/alerts/{alert}/acknowledge")
                except httpx.HTTPError:
                    pass

            writers = [threading.Thread(target=write, daemon=True) for _ in range(60)]
            for thread in writers:
                thread.start()
            time.sleep(0.5)  # let the writes reach the server and wait for the lock
            started = time.monotonic()
            health = server.anon.get("/healthz", timeout=10)
            alerts = server.client.get("/api/alerts", timeout=10)
            elapsed = time.monotonic() - started
        assert health.status_code in (200, 503) and alerts.status_code == 200
        assert elapsed < 2.0, f"reads took {elapsed:.1f}s behind waiting writes"
        for thread in writers:
            thread.join(60)

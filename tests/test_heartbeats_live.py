"""Heartbeats where the process matters: wrap mode through the installed script, twenty pings
racing a running check, a ping that meets a busy database, and pings over HTTP through a real
``serve``."""

from __future__ import annotations

import sqlite3
import time

import pytest
from api_server import ApiServer
from conftest import T0, Cli, Result, rows
from delivery_world import BREACH
from test_heartbeats import HEARTBEATS, pings

PING_KEY = "ping-key-0123456789abcdef"


@pytest.fixture
def hb(tmp_path) -> Cli:
    c = Cli(tmp_path)
    c.config.write_text(HEARTBEATS)
    return c


# ------------------------------------------------------------------ wrap mode


@pytest.mark.slow
def test_wrap_mode_records_a_failing_command_with_its_last_ten_lines(hb):
    lines = [f"line {i}" for i in range(1, 13)]
    script = "for i in $(seq 1 12); do echo line $i; done; exit 3"
    result = hb.spawn("ping", "nightly_backup", "--", "sh", "-c", script, now=T0)
    assert result == Result(3, "".join(f"{line}\n" for line in lines), "")  # the output still reaches the terminal
    assert pings(hb) == [
        ("nightly_backup", T0, "start", None, None),
        ("nightly_backup", T0, "fail", 3, "\n".join(lines[-10:])),
    ]
    listed = hb("heartbeats", "--json", now=T0).json()[0]
    assert (listed["state"], listed["lastExitCode"]) == ("failed", 3)


@pytest.mark.slow
def test_wrap_mode_records_a_succeeding_command_and_keeps_stdout_and_stderr_apart(hb):
    result = hb.spawn("ping", "worker", "--", "sh", "-c", "echo done; echo 'a note' >&2", now=T0)
    assert result == Result(0, "done\n", "a note\n")
    (start, end) = pings(hb)
    assert start == ("worker", T0, "start", None, None)
    assert end[:4] == ("worker", T0, "success", 0) and sorted(end[4].split("\n")) == ["a note", "done"]
    assert hb("heartbeats", "--json", now=T0).json()[1]["state"] == "up"


@pytest.mark.slow
def test_wrap_mode_when_the_command_cannot_start_or_dies_by_a_signal(hb):
    missing = hb.spawn("ping", "worker", "--", "/nonexistent/backup.sh", "--full", now=T0)
    reason = "cannot run '/nonexistent/backup.sh': No such file or directory"
    assert missing == Result(127, "", f"error: {reason}\n")
    killed = hb.spawn("ping", "worker", "--", "sh", "-c", "kill -TERM $$", now=T0 + 1)
    assert killed == Result(143, "", "")
    assert pings(hb)[1::2] == [("worker", T0, "fail", 127, reason), ("worker", T0 + 1, "fail", 143, None)]


@pytest.mark.slow
def test_wrap_mode_runs_the_job_even_when_its_ping_cannot_be_recorded(hb):
    result = hb.spawn("ping", "nightly_bakup", "--", "sh", "-c", "echo ran; exit 4", now=T0)
    assert result == Result(
        4,
        "ran\n",
        f"warning: the start ping of heartbeat 'nightly_bakup' was not recorded: unknown heartbeat "
        f"'nightly_bakup' in {hb.config}\n",
    )
    assert not hb.db.exists()


# ------------------------------------------------------------------ pings and a running check


@pytest.mark.slow
def test_twenty_pings_during_a_running_check_are_all_recorded_without_waiting_for_it(world):
    names = [f"job_{i:02d}" for i in range(20)]
    heartbeats = "heartbeats:\n" + "".join(f"  {n}:\n    every: 1h\n    channels: [webhook]\n" for n in names)
    world.config(channels=("webhook",), sections="state:\n  lock_timeout: 5s\n" + heartbeats)
    world.hook.answer = world.hook.hang
    check = world.cli.popen("check", "--metrics-file", str(world.cli.metrics(BREACH)), now=T0)
    try:
        assert world.hook.arrived.wait(15), "the check's webhook request never arrived"
        procs = [world.cli.popen("ping", name, now=T0 + i) for i, name in enumerate(names)]
        results = [proc.communicate(timeout=60) + (proc.returncode,) for proc in procs]
        # all recorded (one that waited for the run lock would have failed after the 5s lock timeout),
        # while the check still holds the run lock, waiting on its webhook
        assert results == [("", "", 0)] * 20
        assert check.poll() is None
        world.hook.release.set()
        out, err = check.communicate(timeout=30)
    finally:
        check.kill()
        check.wait()
    assert (check.returncode, err) == (0, "")
    assert rows(world.db, "SELECT heartbeat, at, kind FROM pings ORDER BY heartbeat") == [
        (name, T0 + i, "success") for i, name in enumerate(names)
    ]
    listed = world.cli("heartbeats", "--json", now=T0 + 30).json()
    assert {h["state"] for h in listed} == {"up"}


@pytest.mark.slow
def test_a_ping_waits_for_a_busy_database_no_longer_than_the_lock_timeout(hb):
    hb.config.write_text(HEARTBEATS + "state:\n  lock_timeout: 300ms\n")
    assert hb("ping", "worker", now=T0).code == 0
    holder = sqlite3.connect(hb.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a writer that does not let go
    try:
        started = time.monotonic()
        result = hb("ping", "worker", now=T0 + 1)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (result.code, result.out) == (4, "")
    assert result.err.startswith(f"error: state database {hb.db} is locked by another process past the lock timeout")
    assert 0.3 <= waited < 5
    assert len(pings(hb)) == 1


# ------------------------------------------------------------------ HTTP


@pytest.mark.slow
def test_pings_over_http_through_a_real_server(hb):
    with ApiServer(hb, env={"PANTRY_ALERT_PING_KEY": PING_KEY}) as server:
        anon = server.anon
        success = anon.get(f"/ping/{PING_KEY}/worker")
        assert (success.status_code, success.text) == (200, "OK")
        assert anon.post(f"/ping/{PING_KEY}/nightly_backup/start").status_code == 200
        failed = anon.post(f"/ping/{PING_KEY}/nightly_backup/fail?exit_code=2", content=b"pg_dump: error\n")
        assert (failed.status_code, failed.text) == (200, "OK")
        wrong = [
            anon.get("/ping/wrong-key-0123456789abcdef/worker"),  # a wrong key
            anon.post(f"/ping/{PING_KEY[:-1]}/worker"),
            anon.get(f"/ping/{PING_KEY}/nightly_bakup"),  # an unknown heartbeat
            anon.get(f"/ping/{PING_KEY}/nightly_bakup/fail"),
        ]
        assert [(r.status_code, r.text) for r in wrong] == [(404, "Not found")] * 4
        assert anon.get(f"/ping/{PING_KEY}/worker/finish").status_code == 404
        assert anon.get(f"/ping/{PING_KEY}/worker?exit_code=1").status_code == 400
        assert anon.get("/api/heartbeats").status_code == 401  # the API keeps its bearer token
        listed = server.client.get("/api/heartbeats")
        metrics = server.client.get("/metrics").text
        log = server.log()
    assert listed.json() == {
        "success": True,
        "data": [
            {
                "name": "nightly_backup",
                "state": "failed",
                "lastPingAt": T0,
                "nextExpectedAt": 1764207000000,  # 2025-11-27 02:30 in Berlin
                "lastExitCode": 2,
            },
            {"name": "worker", "state": "up", "lastPingAt": T0, "nextExpectedAt": T0 + 600_000, "lastExitCode": None},
        ],
    }
    assert listed.json()["data"] == hb("heartbeats", "--json", now=T0).json()
    assert pings(hb) == [
        ("worker", T0, "success", None, None),
        ("nightly_backup", T0, "start", None, None),
        ("nightly_backup", T0, "fail", 2, "pg_dump: error"),
    ]
    assert (
        "# TYPE pantry_alert_heartbeat_last_success_timestamp_seconds gauge\n"
        'pantry_alert_heartbeat_last_success_timestamp_seconds{heartbeat="worker"} 1.7641584e+09\n'
    ) in metrics
    assert PING_KEY not in log and PING_KEY[:-1] not in log
    assert '"GET /ping/***/worker HTTP/1.1" 200' in log


@pytest.mark.slow
def test_serve_refuses_a_short_ping_key(hb):
    result = hb.spawn("serve", "--no-auth", env={"PANTRY_ALERT_PING_KEY": "short"})
    assert result == Result(
        2,
        "",
        "error: PANTRY_ALERT_PING_KEY must be at least 16 characters (the value is not shown)\n"
        'hint: e.g. PANTRY_ALERT_PING_KEY="$(openssl rand -hex 16)"\n',
    )

"""A state database that cannot be written: every command says why (exit 4) or reads it read-only.

Root is not bound by file modes, so when the tests run as root the command
runs with its capabilities dropped (``setpriv --bounding-set=-all``): it is
then bound by modes like any user.  The immutable flag binds root as well.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys

import cli_runner
import pytest
from conftest import SIMPLE_CONFIG, T0

from pantry_alert.store.db import inspect

ALERT_ID = f"cpu_high_{T0}"
LATER = T0 + 60_000
WRITE_HINT = (
    "hint: SQLite needs write access to the file and its directory (for the -wal and -shm files); "
    "check the permissions, or run as the user that owns it"
)
# Every command that writes: each must refuse a database it cannot write, with exit 4.
WRITERS = [
    ("check", "--metrics-file", "{metrics}"),
    ("ack", ALERT_ID),
    ("resolve", ALERT_ID),
    ("prune", "--older-than", "1m"),
    ("ping", "job"),
]


@pytest.fixture(scope="module")
def unprivileged_worker():
    """As root: one worker process without root's capabilities (``setpriv``), shared by the tests
    of this module (what it proves holds for every run in it), and the prefix it was started with."""
    if os.geteuid() != 0:
        yield None, []
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv(1): file modes do not bind root")
    prefix = [setpriv, "--bounding-set=-all"]
    worker = cli_runner.BoundWorker(prefix)
    try:
        yield worker, prefix
    finally:
        worker.close()


@pytest.fixture
def bound_by_modes(monkeypatch, unprivileged_worker):
    """Run the command bound by file modes: as root, in the worker process without root's capabilities."""
    worker, prefix = unprivileged_worker
    if worker is not None:
        monkeypatch.setattr(cli_runner, "BOUND", worker)
    return prefix


@pytest.fixture
def populated(simple):
    """One firing alert in a database closed cleanly (no -wal, no -shm left)."""
    simple.config.write_text(
        SIMPLE_CONFIG.format(severity="high", cooldown="10m") + "heartbeats:\n  job: {every: 1h, channels: [console]}\n"
    )
    assert simple.check({"cpu": 95}).code == 0
    assert not os.path.exists(f"{simple.db}-wal") and not os.path.exists(f"{simple.db}-shm")
    return simple


def files(folder) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, content) of the database's files in the folder (state.db and any -wal, -shm, .lock)."""
    out = {}
    for name in sorted(n for n in os.listdir(folder) if n.startswith("state.db")):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                out[name] = (stat.S_IMODE(os.stat(path).st_mode), fh.read())
    return out


def assert_writers_refuse(cli, reason: str) -> None:
    metrics = str(cli.metrics({"cpu": 99}, "hot.json"))
    for args in WRITERS:
        args = [a.format(metrics=metrics) for a in args]
        result = cli(*args, now=LATER)
        assert result.code == 4, (args, result)
        assert f"error: state database {cli.db} cannot be written: {reason}" in result.err, (args, result.err)
        assert "internal error" not in result.err and "Traceback" not in result.err
        assert result.out == ""


def assert_readers_work(cli) -> None:
    listed = cli("list", "--json", now=LATER)
    assert listed.code == 0, listed.err
    assert [(a["id"], a["status"], a["count"]) for a in listed.json()] == [(ALERT_ID, "firing", 1)]
    history = cli("history", "--json", now=LATER)
    assert history.code == 0 and [a["id"] for a in history.json()] == [ALERT_ID]
    shown = cli("show", ALERT_ID, "--json", now=LATER)
    assert shown.code == 0, shown.err
    assert shown.json()["id"] == ALERT_ID
    assert [e["kind"] for e in shown.json()["events"]] == ["fired", "notified", "delivered"]
    stats = cli("stats", "--json", now=LATER)
    assert stats.code == 0, stats.err
    assert stats.json()["total"] == 1 and stats.json()["notifications"]["sent"] == 1
    dry = cli("prune", "--older-than", "1m", "--dry-run", "--json", now=LATER)
    assert dry.code == 0 and dry.json()["deleted"] == 0
    plan = cli.check({"cpu": 99}, "--dry-run", "--json", now=LATER)
    assert plan.code == 0, plan.err
    assert plan.json()["dryRun"] is True


@pytest.mark.slow
def test_read_only_file_writers_exit_4_readers_read_nothing_left_behind(populated, bound_by_modes):
    cli = populated
    os.chmod(cli.db, 0o400)
    before = files(cli.tmp)
    assert_writers_refuse(cli, "permission denied (the file is read-only for this user)")
    result = cli("ack", ALERT_ID)
    assert WRITE_HINT in result.err
    assert_readers_work(cli)
    assert files(cli.tmp) == before  # no -wal or -shm with the file's read-only mode, nothing changed

    os.chmod(cli.db, 0o600)  # fixed: the next runs work as if nothing happened
    assert cli("ack", ALERT_ID, "--by", "ops", now=LATER).code == 0
    assert cli.check({"cpu": 1}, now=LATER + 60_000).code == 0
    assert cli("list", "--json", now=LATER + 60_000).json() == []


def test_read_only_directory_writers_exit_4_readers_read(populated, bound_by_modes):
    cli = populated
    folder = cli.db.parent
    os.chmod(folder, 0o555)
    try:
        before = files(folder)
        assert_writers_refuse(
            cli,
            f"SQLite must create its -wal and -shm files in {folder}, and the directory is not writable "
            "for this user (permissions, or an immutable flag: `lsattr -d`)",
        )
        assert_readers_work(cli)
        assert files(folder) == before
    finally:
        os.chmod(folder, 0o755)
    assert cli.check({"cpu": 1}, now=LATER).code == 0


def test_read_only_wal_and_shm_left_by_an_older_version_are_named(populated, bound_by_modes):
    """What a read-only connection on a 0400 file used to leave behind: 0400 -wal and -shm files."""
    cli = populated
    os.chmod(cli.db, 0o400)
    reader = (
        "import sqlite3, sys; sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True).execute('SELECT 1 FROM alerts')"
    )
    subprocess.run([*bound_by_modes, sys.executable, "-c", reader, str(cli.db)], check=True)
    assert stat.S_IMODE(os.stat(f"{cli.db}-shm").st_mode) == 0o400
    os.chmod(cli.db, 0o600)
    before = files(cli.tmp)
    result = cli.check({"cpu": 99}, now=LATER)
    assert result.code == 4
    assert f"error: state database {cli.db} cannot be written: {cli.db}-wal is read-only for this user" in result.err
    assert "a -wal file only when it is empty" in result.err
    assert files(cli.tmp) == before
    assert_readers_work(cli)


def test_immutable_file_every_writer_exit_4(populated):
    cli = populated
    if shutil.which("chattr") is None:
        pytest.skip("chattr(1) is not installed")
    made = subprocess.run(["chattr", "+i", str(cli.db)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot set the immutable flag here: {made.stderr.strip()}")
    try:
        before = files(cli.tmp)
        assert_writers_refuse(
            cli, "operation not permitted (an immutable file? `lsattr` shows the i flag, `chattr -i` clears it)"
        )
        assert_readers_work(cli)
        assert files(cli.tmp) == before
    finally:
        subprocess.run(["chattr", "-i", str(cli.db)], check=True)
    assert cli.check({"cpu": 1}, now=LATER).code == 0


# ------------------------------------------------------------ a full disk, a read-only file system

SUBJECT = "[HIGH] Kitchen Pantry CRM Alert: CPU High"  # the console channel's notification line
MINUTE = 60_000


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs of the test's own (a real file system that fills up); needs root and mount(8)."""
    folder = tmp_path / "fs"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk needs a small file system of the test's own: mount(8) as root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder, leave_kib: int) -> None:
    """Fill the file system holding ``folder`` up to the last ``leave_kib`` KiB (a file named filler)."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            while True:
                try:
                    if os.write(fd, b"\0" * chunk) < chunk:
                        break
                except OSError:
                    break
    finally:
        os.close(fd)
    size = os.path.getsize(folder / "filler")
    os.truncate(folder / "filler", max(0, size - leave_kib * 1024))


def query(db, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.slow
def test_a_full_disk_at_any_point_of_a_run_is_exit_4_and_nothing_is_half_applied(simple, small_fs):
    """The disk fills up at every point of a firing run in turn: opening, the plan's COMMIT, recording
    the delivery, logging the run.  Each is exit 4 "disk full" (never 70); the next run with space
    re-sends exactly the notifications whose outcome was not recorded, and no alert is doubled."""
    simple.db = small_fs / "state.db"
    assert simple.check({"cpu": 5}).code == 0
    pristine = simple.db.read_bytes()
    seen = set()
    for free_kib in range(0, 208, 8):  # up to where a run has room again (more tables, more pages to copy)
        for name in os.listdir(small_fs):
            # The database is rewritten in place: a new file would leave the old one's blocks held by
            # the descriptor this (in-process) command line keeps on it, and free them mid-run.
            if name != simple.db.name:
                os.remove(small_fs / name)
        simple.db.write_bytes(pristine)
        os.chmod(simple.db, 0o600)
        # The store keeps a descriptor on each database file's header for the process's life; the
        # last round's file (deleted above) lets go of its space only when the new one is read:
        # read it now, so that the file system is filled with the space really free.
        inspect(simple.db)
        fill(small_fs, free_kib)

        first = simple.check({"cpu": 95}, now=T0 + MINUTE)
        assert first.code in (0, 4), (free_kib, first)
        assert "internal error" not in first.err and "Traceback" not in first.err
        if first.code == 4:
            assert f"error: state database {simple.db}: disk full (" in first.err, (free_kib, first.err)
            assert f"hint: free space on the file system that holds {small_fs} (`df -h {small_fs}`)" in first.err
            if "pantry-alert did not change it" in first.err:
                seen.add("nothing written")
                assert simple.db.read_bytes() == pristine, free_kib
                assert SUBJECT not in first.out
            else:
                assert "the change being written was rolled back; what this command had saved before it was kept" in (
                    first.err
                )
                seen.add("delivery not recorded")
        else:
            seen.add("ok")
        os.remove(small_fs / "filler")
        unrecorded = query(simple.db, "SELECT COUNT(*) FROM notifications WHERE status = 'pending'")[0][0]
        alerts_before = query(simple.db, "SELECT COUNT(*) FROM alerts")[0][0]

        second = simple.check({"cpu": 95}, now=T0 + 2 * MINUTE)
        assert second.code == 0, (free_kib, second)
        fired_now = second.out.count("FIRED ")  # fires only when the first run's plan was not written
        assert fired_now == (0 if alerts_before else 1), free_kib
        # Sent again: only what was not recorded; plus the firing notice of an alert that fires only now.
        assert second.out.count(SUBJECT) == unrecorded + fired_now, free_kib
        assert query(simple.db, "SELECT rule_id, status FROM alerts") == [("cpu_high", "firing")], free_kib
        assert query(simple.db, "SELECT channel, kind, status FROM notifications") == [("console", "firing", "sent")], (
            free_kib
        )
    assert seen == {"nothing written", "delivery not recorded", "ok"}


def test_a_disk_that_fills_during_delivery_re_sends_only_the_unrecorded_notification(tmp_path, small_fs):
    """A webhook receiver fills the disk while it accepts one POST: that outcome cannot be recorded
    (exit 4, disk full).  With space again, the next run sends that one again, with the same
    Idempotency-Key, and not the one recorded before."""
    import http.server
    import json
    import threading

    from conftest import Cli

    received: list[tuple[str, str]] = []
    fill_on_post = threading.Event()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((body["alert"]["ruleId"], self.headers["Idempotency-Key"]))
            if fill_on_post.is_set():
                fill_on_post.clear()
                fill(small_fs, 0)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    try:
        cli = Cli(tmp_path)
        cli.db = small_fs / "state.db"
        rule = """
  - id: {id}
    name: {id}
    type: performance
    severity: high
    when: {id} > 90
    cooldown: 10m
    channels: [webhook]
"""
        cli.config.write_text(
            f"channels:\n  webhook:\n    url: http://127.0.0.1:{server.server_port}/hook\nrules:"
            + rule.format(id="cpu")
            + rule.format(id="mem")
        )
        assert cli.check({"cpu": 95, "mem": 5}).code == 0
        fill_on_post.set()
        full = cli.check({"cpu": 95, "mem": 95}, now=T0 + MINUTE)
        assert full.code == 4
        assert f"error: state database {cli.db}: disk full (" in full.err
        assert "the change being written was rolled back; what this command had saved before it was kept" in full.err
        assert "internal error" not in full.err
        os.remove(small_fs / "filler")
        assert query(cli.db, "SELECT a.rule_id, n.status FROM notifications n JOIN alerts a ON a.id = n.alert_id") == [
            ("cpu", "sent"),
            ("mem", "pending"),
        ]
        again = cli.check({"cpu": 95, "mem": 95}, now=T0 + 2 * MINUTE)
        assert again.code == 0, again.err
        assert [rule for rule, _ in received] == ["cpu", "mem", "mem"]
        assert received[1][1] == received[2][1]  # the same notification, sent again
        assert query(cli.db, "SELECT status FROM notifications") == [("sent",), ("sent",)]
    finally:
        server.shutdown()
        server.server_close()


def test_read_only_file_system_writers_exit_4_readers_read(populated, small_fs):
    cli = populated
    db = small_fs / "state.db"
    db.write_bytes(cli.db.read_bytes())
    os.chmod(db, 0o600)
    cli.db = db
    assert cli("list", "--json", now=LATER).code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        before = files(small_fs)
        assert_writers_refuse(cli, "the file system is mounted read-only")
        assert_readers_work(cli)
        assert files(small_fs) == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)


# ------------------------------------------------------------------------------ damaged pages


def test_any_damaged_page_is_exit_4_and_the_file_stays_as_it_was(simple):
    """Overwrite each page of a populated database in turn: every writer refuses it (exit 4) and
    leaves every byte as it was, whichever page it is (tables, indexes, schema, header)."""
    for minute, cpu in enumerate((95, 96, 5, 97, 98, 4, 99)):  # alerts fired, reminded, resolved
        assert simple.check({"cpu": cpu}, now=T0 + minute * 11 * MINUTE).code == 0
    firing = f"cpu_high_{T0 + 6 * 11 * MINUTE}"
    assert simple("ack", firing, "--note", "looking", "--for", "1h").code == 0
    assert simple("prune", "--older-than", "999d", "--vacuum").code == 0  # no free pages left
    assert not os.path.exists(f"{simple.db}-wal")
    pristine = simple.db.read_bytes()
    page_size = int.from_bytes(pristine[16:18], "big")
    pages = len(pristine) // page_size
    assert pages >= 15 and int.from_bytes(pristine[36:40], "big") == 0  # no free pages: every page is in use
    hot = str(simple.metrics({"cpu": 99}, "hot.json"))
    for page in range(pages):
        attempts = [(b"\xa5", ("check", "--metrics-file", hot))]
        if page % 3 == 0:  # a human command too, on zeros (a third of the pages keeps the test short)
            attempts.append((b"\x00", ("resolve", firing)))
        for filler, command in attempts:
            damaged = bytearray(pristine)
            damaged[page * page_size : (page + 1) * page_size] = filler * page_size
            simple.db.write_bytes(bytes(damaged))
            result = simple(*command, now=T0 + 2 * 60 * MINUTE)
            assert result.code == 4, (page, command, result)
            assert result.err.startswith(f"error: state database {simple.db} "), (page, result.err)
            assert "internal error" not in result.err and "Traceback" not in result.err
            assert simple.db.read_bytes() == bytes(damaged), (page, command)
            assert not os.path.exists(f"{simple.db}-wal") or os.path.getsize(f"{simple.db}-wal") == 0
    simple.db.write_bytes(pristine)
    assert simple.check({"cpu": 99}, now=T0 + 2 * 60 * MINUTE).code == 0


# ------------------------------------------------------------------ alert ids stay unique


def alert_ids_everywhere(db) -> tuple[list, set, set]:
    """(alert ids in firing order, alert ids of the events, alert ids of the notifications)."""
    return (
        [r[0] for r in query(db, "SELECT id FROM alerts ORDER BY rowid")],
        {r[0] for r in query(db, "SELECT alert_id FROM events")},
        {r[0] for r in query(db, "SELECT alert_id FROM notifications")},
    )


@pytest.mark.slow
def test_firing_again_in_the_same_millisecond_gets_a_suffixed_id(simple):
    """Fire at T, resolve, fire again at the same T (cooldown 0): a replay, or a clock stepped back."""
    simple.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="0"))
    assert simple.check({"cpu": 95}).code == 0
    assert simple("resolve", ALERT_ID, "--by", "ops").code == 0
    dry = simple.check({"cpu": 95}, "--dry-run", "--json")
    assert dry.code == 0 and dry.json()["fired"] == [f"{ALERT_ID}_2"]
    again = simple.check({"cpu": 95}, "--json")
    assert again.code == 0, again.err
    assert again.json()["fired"] == [f"{ALERT_ID}_2"]
    assert simple("resolve", f"{ALERT_ID}_2").code == 0
    third = simple.check({"cpu": 95})
    assert third.code == 0 and third.out.startswith(f"FIRED     {ALERT_ID}_3 [high] CPU High: CPU at 95%\n")
    ids, event_ids, notification_ids = alert_ids_everywhere(simple.db)
    assert ids == [ALERT_ID, f"{ALERT_ID}_2", f"{ALERT_ID}_3"]
    assert event_ids == set(ids) and notification_ids == set(ids)
    shown = simple("show", f"{ALERT_ID}_3", "--json")
    assert shown.code == 0 and shown.json()["timestamp"] == T0
    assert [e["kind"] for e in shown.json()["events"]] == ["fired", "notified", "delivered"]


def test_clock_stepped_back_after_an_auto_resolve_fires_a_new_unique_alert(simple):
    simple.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="0"))
    assert simple.check({"cpu": 95}, now=T0 + 5 * MINUTE).code == 0
    assert simple.check({"cpu": 5}, now=T0 + 6 * MINUTE).code == 0  # resolved
    stepped_back = simple.check({"cpu": 95}, now=T0 + 5 * MINUTE)
    assert stepped_back.code == 0, stepped_back.err
    first = f"cpu_high_{T0 + 5 * MINUTE}"
    assert stepped_back.out.startswith(f"FIRED     {first}_2 ")
    ids, event_ids, notification_ids = alert_ids_everywhere(simple.db)
    assert ids == [first, f"{first}_2"] and event_ids == set(ids) and notification_ids == set(ids)
    listed = simple("list", "--json", now=T0 + 5 * MINUTE).json()
    assert [(a["id"], a["status"]) for a in listed] == [(f"{first}_2", "firing")]


@pytest.mark.slow
def test_human_commands_on_a_full_disk_exit_4_and_change_nothing(populated, small_fs):
    cli = populated
    db = small_fs / "state.db"
    db.write_bytes(cli.db.read_bytes())
    os.chmod(db, 0o600)
    cli.db = db
    assert cli("list", "--json", now=LATER).code == 0  # checked once, sealed: the file is known good
    pristine = db.read_bytes()
    fill(small_fs, 0)
    # Readers too: SQLite cannot even create the -shm file it reads a WAL database with.
    for args in (("ack", ALERT_ID), ("resolve", ALERT_ID), ("prune", "--older-than", "1m"), ("list",), ("stats",)):
        result = cli(*args, now=LATER)
        assert result.code == 4, (args, result)
        assert result.err.startswith(f"error: state database {db}: disk full ("), (args, result.err)
        assert "pantry-alert did not change it" in result.err
        assert db.read_bytes() == pristine
    os.remove(small_fs / "filler")
    assert cli("resolve", ALERT_ID, "--by", "ops", now=LATER).code == 0
    assert query(db, "SELECT status, resolved_by FROM alerts") == [("resolved", "ops")]

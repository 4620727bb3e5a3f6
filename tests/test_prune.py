"""``prune``: old resolved alerts go with their events and notifications; unresolved, recent and
still-undelivered ones stay; the bulk path keeps the survivors' rows and ids."""

from __future__ import annotations

from conftest import BREACH_METRICS, HEALTHY_METRICS, MINUTE, T0, dump, lines, ok, rows

HOUR = 60 * MINUTE
DAY = 24 * HOUR


THREE_RULES = """
rules:
""" + "".join(
    f"""
  - id: {name}_high
    name: {name.upper()} High
    type: performance
    severity: low
    when: {name} > 90
    cooldown: 10m
    channels: [console]
"""
    for name in ("cpu", "mem", "disk")
)


def metrics(cpu: int, mem: int, disk: int = 95) -> dict:
    return {"cpu": cpu, "mem": mem, "disk": disk}


def test_prune_old_resolved_keeps_unresolved_new_and_undelivered(simple):
    cli = simple
    cli.config.write_text(THREE_RULES)
    c1, m1, d1 = f"cpu_high_{T0}", f"mem_high_{T0}", f"disk_high_{T0}"
    c2, c3 = f"cpu_high_{T0 + 20 * MINUTE}", f"cpu_high_{T0 + 2 * DAY + 10 * MINUTE}"
    ok(cli.check(metrics(95, 95), now=T0))  # C1, M1, D1 fire
    ok(cli.check(metrics(50, 95), now=T0 + 5 * MINUTE))  # C1 resolves
    ok(cli.check(metrics(95, 95), now=T0 + 20 * MINUTE))  # C2 fires
    ok(cli.check(metrics(50, 95), now=T0 + 2 * DAY))  # C2 resolves (fired before the cutoff)
    ok(cli.check(metrics(95, 95), now=T0 + 2 * DAY + 10 * MINUTE))  # C3 fires (after the cutoff)
    ok(cli.check(metrics(50, 95), now=T0 + 2 * DAY + 15 * MINUTE))  # C3 resolves
    ok(cli("resolve", m1, "--by", "ops", now=T0 + 2 * DAY + 20 * MINUTE))  # M1: resolved notification pending
    now, cutoff = T0 + 8 * DAY, T0 + DAY  # retention 7d
    gone = (c1, c2)
    assert rows(cli.db, "SELECT COUNT(*) FROM events WHERE alert_id IN (?, ?)", *gone) == [(12,)]
    assert rows(cli.db, "SELECT COUNT(*) FROM notifications WHERE alert_id IN (?, ?)", *gone) == [(4,)]
    before = dump(cli)
    assert len(before["runs"]) == 6

    dry = cli("prune", "--dry-run", "--json", now=now)
    ok(dry)
    assert dry.json() == {"deleted": 2, "silences": 0, "cutoff": cutoff, "dryRun": True, "auditDeleted": 0}
    counts = [
        "  resolved alerts              2",
        "  their events                12",
        "  their notifications          4",
        "  runs                         3",
        "  ended silences               0",
        "Kept 1 resolved alert(s) with notifications not delivered yet.",
    ]
    dry_human = cli("prune", "--dry-run", "--vacuum", now=now)
    ok(dry_human)
    assert lines(dry_human.out) == [
        "Would delete (cutoff 2025-11-27 12:00:00 UTC; dry run: nothing was deleted):",
        *counts,
        "--vacuum skipped: a dry run changes nothing",
    ]
    assert dump(cli) == before

    pruned = cli("prune", now=now)
    ok(pruned)
    assert lines(pruned.out) == ["Deleted (cutoff 2025-11-27 12:00:00 UTC):", *counts]
    after = dump(cli)
    assert sorted(r[0] for r in after["alerts"]) == sorted([m1, d1, c3])
    for table in ("events", "notifications"):
        assert [r for r in before[table] if r[1] not in gone] == after[table]
    assert [r[1] for r in after["runs"]] == [T0 + 2 * DAY, T0 + 2 * DAY + 10 * MINUTE, T0 + 2 * DAY + 15 * MINUTE]

    ok(cli.check(metrics(50, 50), now=now))  # sends M1's resolved notification
    again = cli("prune", "--json", now=now)
    ok(again)
    assert again.json() == {"deleted": 1, "silences": 0, "cutoff": cutoff, "dryRun": False, "auditDeleted": 0}
    assert sorted(r[0] for r in rows(cli.db, "SELECT id FROM alerts")) == sorted([d1, c3])

    everything = cli("prune", "--older-than", "0", "--vacuum", now=now)  # never an unresolved one
    ok(everything)
    out = lines(everything.out)
    assert out[:6] == [
        "Deleted (cutoff 2025-12-04 12:00:00 UTC):",
        "  resolved alerts              1",
        "  their events                 6",
        "  their notifications          2",
        "  runs                         3",
        "  ended silences               0",
    ]
    assert out[6].startswith(f"Vacuumed {cli.db}: ") and out[6].endswith(" MiB")
    assert rows(cli.db, "SELECT id, status FROM alerts") == [(d1, "firing")]
    assert rows(cli.db, "SELECT DISTINCT alert_id FROM events") == [(d1,)]
    assert rows(cli.db, "SELECT started_at FROM runs") == [(now,)]  # started at the cutoff: not before it
    assert rows(cli.db, "PRAGMA integrity_check") == [("ok",)]


def test_prune_most_of_the_database_keeps_survivors_intact(cli):
    """When most alerts go, prune empties the tables and puts the survivors back: same rows, same ids."""
    logins_only = dict(HEALTHY_METRICS, failedLogins=75)
    ok(cli.check(BREACH_METRICS, now=T0))  # five alerts fire
    ok(cli.check(logins_only, now=T0 + 5 * MINUTE))  # four resolve, failed_login_attempts stays
    survivor = f"failed_login_attempts_{T0}"
    before = dump(cli)
    pruned = cli("prune", "--older-than", "0", "--json", now=T0 + 10 * MINUTE)
    ok(pruned)
    assert pruned.json() == {
        "deleted": 4,
        "silences": 0,
        "cutoff": T0 + 10 * MINUTE,
        "dryRun": False,
        "auditDeleted": 0,
    }
    # The survivor was put back (a new rowid: this is the copy path, not row-by-row deletion).
    assert rows(cli.db, "SELECT rowid, id FROM alerts") == [(1, survivor)]
    after = dump(cli)
    assert after["alerts"] == [r for r in before["alerts"] if r[0] == survivor]
    for table in ("events", "notifications"):
        assert after[table] == [r for r in before[table] if r[1] == survivor]
    assert after["runs"] == []
    assert rows(cli.db, "PRAGMA integrity_check") == [("ok",)]
    # The database still works: the survivor deduplicates, a new alert can fire.
    result = cli.check(BREACH_METRICS, "--json", now=T0 + 20 * MINUTE)
    assert result.json()["fired"] == [
        f"high_response_time_{T0 + 20 * MINUTE}",
        f"high_error_rate_{T0 + 20 * MINUTE}",
        f"database_connection_issues_{T0 + 20 * MINUTE}",
    ]
    assert rows(cli.db, "SELECT count FROM alerts WHERE id = ?", survivor) == [(3,)]


def test_prune_is_quiet_when_nothing_was_deleted(simple):
    result = simple("prune")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_prune_deletes_silences_that_ended_before_the_cutoff_and_listings_are_limited(simple):
    for n in range(5):
        assert simple("silence", "add", "cpu_high", "--for", "1h", now=T0 + n * MINUTE).code == 0
    assert len(simple("silence", "list", "--json", "--limit", "3").json()) == 3
    assert len(simple("silence", "list", "--json").json()) == 5
    later = T0 + 8 * 24 * 60 * MINUTE + 2 * 60 * MINUTE  # every silence ended more than 7 days (the retention) ago
    pruned = simple("prune", "--json", now=later)
    assert pruned.json()["silences"] == 5
    assert simple("silence", "list", "--json", now=later).json() == []

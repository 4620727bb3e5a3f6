"""The metric history: what each ``check`` read, one row per run.

A run's samples are one ``metric_samples`` row: its time (the rowid, so no
index of its own), the id of its *layout* (which paths, in which order) and
the values as little-endian 8-byte floats.  Paths and layouts are numbered
once in ``metric_paths`` and ``metric_layouts``; runs of the same rules share
a layout, so a sample costs about 8 bytes plus its run's share of the row
(benchmarks/bench_history.py measures it).
"""

from __future__ import annotations

import struct

from ..windows import Series

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["record", "load", "samples", "known_paths", "prune", "count_before"]


def _path_ids(conn, paths: Iterable[str]) -> dict[str, int]:
    ids = dict(conn.execute("SELECT path, id FROM metric_paths").fetchall())
    missing = [(path,) for path in paths if path not in ids]
    if missing:
        conn.executemany("INSERT INTO metric_paths (path) VALUES (?)", missing)
        ids = dict(conn.execute("SELECT path, id FROM metric_paths").fetchall())
    return ids


def record(store, at: int, values: dict[str, float]) -> None:
    """Store one run's samples (inside the caller's transaction); a run at the same time replaces it."""
    if not values:
        return
    conn = store.open_conn
    ids = _path_ids(conn, values)
    order = sorted(values, key=ids.__getitem__)
    key = ",".join(str(ids[path]) for path in order)
    found = conn.execute("SELECT id FROM metric_layouts WHERE path_ids = ?", (key,)).fetchone()
    layout = found[0] if found else conn.execute("INSERT INTO metric_layouts (path_ids) VALUES (?)", (key,)).lastrowid
    data = struct.pack(f"<{len(order)}d", *(values[path] for path in order))
    conn.execute("INSERT OR REPLACE INTO metric_samples (at, layout, data) VALUES (?, ?, ?)", (at, layout, data))


def _layouts(store, wanted: set[str] | None) -> dict[int, list[tuple[int, str]]]:
    """layout id -> [(position in the row, path)] of the wanted paths (every path when None)."""
    names = dict(store._rows("SELECT id, path FROM metric_paths"))
    out = {}
    for layout, key in store._rows("SELECT id, path_ids FROM metric_layouts"):
        paths = [names.get(int(i)) for i in key.split(",")]
        out[layout] = [(pos, path) for pos, path in enumerate(paths) if path and (wanted is None or path in wanted)]
    return out


def _rows(store, start: int, end: int, limit: int | None = None):
    """The runs' rows in ``[start, end)``, oldest first; with ``limit``, only the newest ``limit``."""
    sql = "SELECT at, layout, data FROM metric_samples WHERE at >= ? AND at < ?"
    if limit is None:
        return store._rows(sql + " ORDER BY at", (start, end))
    return store._rows(sql + " ORDER BY at DESC LIMIT ?", (start, end, limit))[::-1]


def _present(store) -> bool:
    """Whether the database has the history's tables (one opened read-only may predate them)."""
    if store.conn is None:
        return False
    return bool(store._rows("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metric_samples'"))


def load(store, paths: Iterable[str], start: int, end: int, limit: int | None = None) -> dict[str, Series]:
    """path -> its samples stored in ``[start, end)``, oldest first (paths without any are left out);
    with ``limit``, from the newest ``limit`` runs only."""
    wanted = set(paths)
    if not wanted or not _present(store):
        return {}
    layouts = _layouts(store, wanted)
    out: dict[str, Series] = {}
    unpack = struct.unpack_from
    for at, layout, data in _rows(store, start, end, limit):
        for pos, path in layouts.get(layout, ()):
            series = out.get(path)
            if series is None:
                series = out[path] = Series()
            series.append(at, unpack("<d", data, pos * 8)[0])
    return out


def runs(store, start: int, end: int) -> list[tuple[int, dict[str, float]]]:
    """Every run stored in ``[start, end)`` with all its samples: ``[(at, {path: value})]``, oldest first."""
    if not _present(store):
        return []
    layouts = _layouts(store, None)
    out = []
    for at, layout, data in _rows(store, start, end):
        positions = layouts.get(layout, [])
        values = struct.unpack(f"<{len(data) // 8}d", data)
        out.append((at, {path: values[pos] for pos, path in positions}))
    return out


def samples(store, path: str, start: int, end: int, limit: int | None = None) -> list[tuple[int, float]]:
    """One metric's samples in ``[start, end)``: ``[(at, value)]``, oldest first (with ``limit``:
    those of the newest ``limit`` runs)."""
    series = load(store, [path], start, end, limit).get(path)
    return list(zip(series.ats, series.values, strict=True)) if series else []


def known_paths(store) -> set[str]:
    """Every path ever recorded (still numbered, even when its samples were pruned)."""
    if not _present(store):
        return set()
    return {path for (path,) in store._rows("SELECT path FROM metric_paths")}


def count_before(store, cutoff: int) -> int:
    """How many runs' samples are older than ``cutoff``."""
    if not _present(store):
        return 0
    ((count,),) = store._rows("SELECT COUNT(*) FROM metric_samples WHERE at < ?", (cutoff,))
    return count


def prune(conn, cutoff: int) -> int:
    """Delete the runs' samples older than ``cutoff`` (inside the caller's transaction); how many runs went."""
    return conn.execute("DELETE FROM metric_samples WHERE at < ?", (cutoff,)).rowcount

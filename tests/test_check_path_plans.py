"""The check path reads the outbox through its partial index, never by scanning every notification."""

from __future__ import annotations

from pantry_alert.store import open_store
from pantry_alert.store.outbox import Outbox


def test_outbox_due_searches_the_partial_index(tmp_path):
    with open_store(tmp_path / "state.db") as store:
        assert store.conn is not None
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        Outbox(store).due(1764158400000)
        store.conn.set_trace_callback(None)
        [select] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + select)]
    assert plan[0].startswith("SEARCH notifications USING INDEX idx_notifications_due"), plan
    assert not any(step.startswith("SCAN notifications") for step in plan)

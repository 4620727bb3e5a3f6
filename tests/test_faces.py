"""The faces share everything: one duration check, ``by`` recorded alike, a lock timeout as an argument."""

from __future__ import annotations

import sqlite3

import pytest
from api_server import Api
from conftest import BREACH_METRICS, T0

from pantry_alert import actions
from pantry_alert.errors import StateLocked, UsageError
from pantry_alert.store import run_lock
from pantry_alert.workspace import Workspace

HOUR = 3_600_000


def _workspace(cli) -> Workspace:
    return Workspace(config_path=str(cli.config), db=str(cli.db), env={**cli.env, "PANTRY_ALERT_NOW": str(T0)})


def _expired_by(cli) -> dict[str, str | None]:
    with sqlite3.connect(cli.db) as conn:
        return {str(row[0]): row[1] for row in conn.execute("SELECT id, expired_by FROM silences")}


def test_acknowledge_refuses_a_duration_that_is_not_positive(cli):
    assert cli.check(BREACH_METRICS).code == 0
    ws = _workspace(cli)
    alert_id = next(iter(ws.store().active_alerts().values())).id
    for bad in (0, -5, 1.5, True):
        with pytest.raises(UsageError) as caught:
            actions.acknowledge(ws, alert_id, by="ann", for_ms=bad)  # type: ignore[arg-type]
        assert caught.value.message == f"an acknowledgement needs a positive duration, not {bad!r}"


def test_the_cli_and_the_library_record_who_expired_a_silence(cli):
    assert cli.check(BREACH_METRICS).code == 0
    ws = _workspace(cli)
    first = actions.add_silence(ws, "high_error_rate", for_ms=HOUR, by="ann")
    second = actions.add_silence(ws, "high_error_rate", for_ms=HOUR, by="ann")
    actions.expire_silence(ws, first["id"], by="  bob ")
    assert cli("silence", "expire", second["id"]).code == 0
    by = _expired_by(cli)
    assert by[str(first["id"])] == "bob" and by[str(second["id"])]  # the CLI records the login name


def test_the_api_records_who_expired_a_silence(cli):
    assert cli.check(BREACH_METRICS).code == 0
    ws = _workspace(cli)
    first = actions.add_silence(ws, "high_error_rate", for_ms=HOUR, by="ann")
    second = actions.add_silence(ws, "high_error_rate", for_ms=HOUR, by="ann")
    with Api(cli) as server:
        assert server.client.request("DELETE", f"/api/silences/{first['id']}", json={"by": "cat"}).status_code == 200
        assert server.client.delete(f"/api/silences/{second['id']}").status_code == 200
    assert _expired_by(cli) == {str(first["id"]): "cat", str(second["id"]): "api"}


def test_an_action_waits_for_the_run_lock_no_longer_than_its_lock_timeout(cli):
    assert cli.check(BREACH_METRICS).code == 0
    ws = _workspace(cli)
    alert_id = next(iter(ws.store().active_alerts().values())).id
    with run_lock(cli.db, 1000), pytest.raises(StateLocked):
        actions.acknowledge(ws, alert_id, by="ann", lock_timeout_ms=50)

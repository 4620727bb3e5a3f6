"""The audit log: every human action from every face, written in the action's own transaction."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest
from api_server import ApiServer
from conftest import BREACH_METRICS, MINUTE, T0, rows
from test_api_slack import ACTION_PATH, SECRET, press, received, sign

DAY = 86_400_000


@pytest.fixture
def fired(cli):
    """The shipped rules after one breaching check at T0, run by the login ``ops``."""
    cli.env["LOGNAME"] = "ops"
    result = cli.check(BREACH_METRICS)
    assert result.code == 0, result.err
    return cli


def alert_id(cli, rule: str) -> str:
    return next(a["id"] for a in cli("list", "--json").json() if a["ruleId"] == rule)


def audit(cli, *args: str, now: int = T0 + DAY) -> list[dict]:
    result = cli("audit", "--json", *args, now=now)
    assert result.code == 0, result.err
    return result.json()


def entry(at, actor, action, target, details=None, client=None) -> dict:
    return {"at": at, "actor": actor, "action": action, "target": target, "details": details or {}, "client": client}


RULE = "id: queue_depth\nname: Queue Depth\ntype: performance\nseverity: low\nwhen: queueDepth > 100\n"


def test_every_cli_action_writes_its_entry(fired, tmp_path):
    err, mem = alert_id(fired, "high_error_rate"), alert_id(fired, "memory_usage_high")
    assert fired("ack", err, "--note", "on it", "--for", "2h", now=T0 + MINUTE).code == 0
    assert fired("note", err, "rolled back", now=T0 + 2 * MINUTE).code == 0
    assert fired("resolve", err, "--by", "ann", now=T0 + 3 * MINUTE).code == 0
    assert fired("note", err, "post-mortem on Friday", now=T0 + 4 * MINUTE).code == 0  # resolved: still allowed
    silence = fired("silence", "add", "memory_usage_high", "--for", "1h", "--reason", "deploy", now=T0 + 5 * MINUTE)
    silence_id = silence.out.strip()
    assert fired("silence", "expire", silence_id, now=T0 + 6 * MINUTE).code == 0
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(RULE)
    assert fired("rules", "add", "--file", str(rule_file), now=T0 + 7 * MINUTE).code == 0
    (tmp_path / "change.yaml").write_text("severity: high\n")
    assert (
        fired("rules", "update", "queue_depth", "--file", str(tmp_path / "change.yaml"), now=T0 + 8 * MINUTE).code == 0
    )

    assert audit(fired) == [
        entry(T0 + 8 * MINUTE, "cli:ops", "rule_update", "queue_depth", {"rule": {"severity": "high"}}),
        entry(
            T0 + 7 * MINUTE,
            "cli:ops",
            "rule_add",
            "queue_depth",
            {
                "rule": {
                    "id": "queue_depth",
                    "name": "Queue Depth",
                    "type": "performance",
                    "severity": "low",
                    "when": "queueDepth > 100",
                }
            },
        ),
        entry(T0 + 6 * MINUTE, "cli:ops", "silence_expire", silence_id, {"rule": "memory_usage_high"}),
        entry(
            T0 + 5 * MINUTE,
            "cli:ops",
            "silence_add",
            silence_id,
            {"rule": "memory_usage_high", "until": T0 + 65 * MINUTE, "reason": "deploy"},
        ),
        entry(T0 + 4 * MINUTE, "cli:ops", "note", err, {"text": "post-mortem on Friday"}),
        entry(T0 + 3 * MINUTE, "cli:ops", "resolve", err, {"by": "ann"}),  # --by goes into the details
        entry(T0 + 2 * MINUTE, "cli:ops", "note", err, {"text": "rolled back"}),
        entry(T0 + MINUTE, "cli:ops", "acknowledge", err, {"note": "on it", "until": T0 + 121 * MINUTE}),
    ]
    assert mem  # untouched by the log
    # The notes are on the timeline, resolved alert included.
    events = fired("show", err, "--json").json()["events"]
    assert [(e["at"], e["detail"]) for e in events if e["kind"] == "note"] == [
        (T0 + 2 * MINUTE, {"by": "ops", "text": "rolled back"}),
        (T0 + 4 * MINUTE, {"by": "ops", "text": "post-mortem on Friday"}),
    ]


def test_filters_and_the_human_table(fired):
    err = alert_id(fired, "high_error_rate")
    assert fired("ack", err, now=T0 + MINUTE).code == 0
    assert fired("note", err, "later", env={"LOGNAME": "kim"}, now=T0 + 40 * DAY).code == 0
    assert [e["actor"] for e in audit(fired, "--since", "90d", now=T0 + 41 * DAY)] == ["cli:kim", "cli:ops"]
    assert [e["actor"] for e in audit(fired, now=T0 + 41 * DAY)] == ["cli:kim"]  # default --since 30d
    assert [e["action"] for e in audit(fired, "--since", "90d", "--actor", "cli:ops", now=T0 + 41 * DAY)] == [
        "acknowledge"
    ]
    human = fired("audit", "--actor", "nobody", now=T0 + 41 * DAY)
    assert (human.code, human.out) == (0, "No audit entries by nobody in the last 30d\n")
    table = fired("audit", "--since", "90d", now=T0 + 41 * DAY)
    assert table.code == 0
    assert table.out.splitlines()[0].startswith("2 audit entries in the last 90d")
    assert "cli:kim" in table.out and '{"text": "later"}' in table.out


def test_refused_actions_write_nothing(fired):
    err = alert_id(fired, "high_error_rate")
    assert fired("ack", "nope_1").code == 1
    assert fired("note", "nope_1", "text").code == 1
    assert fired("note", err, "   ").code == 2
    assert fired("resolve", "nope_1").code == 1
    assert fired("ack", err, now=T0 + MINUTE).code == 0
    assert fired("ack", err, now=T0 + 2 * MINUTE).code == 1  # already acknowledged
    assert [e["action"] for e in audit(fired)] == ["acknowledge"]


def test_the_entry_shares_the_actions_transaction(fired):
    """Without an audit table the insert fails, and the acknowledgement is rolled back with it."""
    err = alert_id(fired, "high_error_rate")
    with closing(sqlite3.connect(fired.db)) as conn:
        conn.execute("DROP TABLE audit")
        conn.commit()
    before = rows(fired.db, "SELECT status, acknowledged_by FROM alerts WHERE id = ?", err)
    failed = fired("ack", err, now=T0 + MINUTE)
    assert failed.code == 4 and "no such table: audit" in failed.err
    assert rows(fired.db, "SELECT status, acknowledged_by FROM alerts WHERE id = ?", err) == before
    assert rows(fired.db, "SELECT COUNT(*) FROM events WHERE kind = 'acknowledged'") == [(0,)]


def test_library_callers_pass_their_own_actor(fired):
    """What the console and acknowledge links do: an ``Actor`` with their name and client address."""
    from pantry_alert import actions
    from pantry_alert.audit import Actor
    from pantry_alert.workspace import Workspace

    ws = Workspace(config_path=str(fired.config), db=str(fired.db), env={"PANTRY_ALERT_NOW": str(T0)})
    err = alert_id(fired, "high_error_rate")
    actions.acknowledge(ws, err, by="link", now=T0 + MINUTE, actor=Actor("link", "203.0.113.7"))
    actions.add_note(ws, err, "seen \x1b[31min red", now=T0 + 2 * MINUTE, actor=Actor("console-wall\n", "::1"))
    assert audit(fired) == [
        entry(T0 + 2 * MINUTE, "console-wall", "note", err, {"text": "seen \x1b[31min red"}, "::1"),
        entry(T0 + MINUTE, "link", "acknowledge", err, {}, "203.0.113.7"),
    ]


def test_prune_keeps_the_log_for_audit_retention(fired):
    err = alert_id(fired, "high_error_rate")
    assert fired("ack", err, now=T0 + MINUTE).code == 0
    assert fired("note", err, "kept", now=T0 + 300 * DAY).code == 0
    pruned = fired("prune", "--json", now=T0 + 366 * DAY)
    assert pruned.json()["auditDeleted"] == 1
    assert [e["action"] for e in audit(fired, "--since", "400d", now=T0 + 366 * DAY)] == ["note"]
    fired.config.write_text(fired.config.read_text() + "audit:\n  retention: 30d\n")
    dry = fired("prune", "--dry-run", "--json", now=T0 + 366 * DAY)
    assert dry.json()["auditDeleted"] == 1
    assert len(audit(fired, "--since", "400d", now=T0 + 366 * DAY)) == 1
    fired.config.write_text(fired.config.read_text().replace("retention: 30d", "retention: soon"))
    bad = fired("prune", now=T0 + 366 * DAY)
    assert bad.code == 2 and "audit.retention" in bad.err


@pytest.mark.slow
def test_api_and_slack_actions_write_entries_with_the_client_address(fired, tmp_path):
    from pytest_httpserver import HTTPServer

    err, mem = alert_id(fired, "high_error_rate"), alert_id(fired, "memory_usage_high")
    db_alert = alert_id(fired, "database_connection_issues")
    with HTTPServer(host="127.0.0.1") as receiver:
        receiver.expect_request(ACTION_PATH, method="POST").respond_with_data("ok")
        env = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": receiver.url_for("/api/")}
        with ApiServer(fired, env=env) as server:
            api = server.client
            assert api.post(f"/api/alerts/{err}/acknowledge", json={"note": "api ack"}).status_code == 200
            noted = api.post(f"/api/alerts/{err}/notes", json={"text": "from the API", "by": "ann"})
            assert (noted.status_code, noted.json()) == (201, {"success": True, "message": "Note added"})
            assert api.post(f"/api/alerts/{mem}/resolve", json={"by": "ann"}).status_code == 200
            created = api.post("/api/silences", json={"rule": "high_error_rate", "for": "1h"}).json()["data"]
            assert api.delete(f"/api/silences/{created['id']}").status_code == 200
            rule = {"id": "queue_depth", "name": "Q", "type": "performance", "severity": "low", "when": "q > 1"}
            assert api.post("/api/alerts/rules", json={"rule": rule}).status_code == 200
            assert api.put("/api/alerts/rules/queue_depth", json={"rule": {"severity": "high"}}).status_code == 200
            body = press(db_alert, receiver.url_for(ACTION_PATH), username="bob")
            assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
            received(receiver, 1)
            # refused requests write nothing
            assert api.post("/api/alerts/nope_1/notes", json={"text": "x"}).status_code == 404
            assert api.post(f"/api/alerts/{err}/notes", json={"text": ""}).status_code == 400
            assert server.anon.post(f"/api/alerts/{err}/notes", json={"text": "x"}).status_code == 401

            answer = api.get("/api/audit").json()
            assert server.anon.get("/api/audit").status_code == 401
            assert api.get("/api/audit", params={"actor": "slack:bob"}).json()["data"] == [
                entry(T0, "slack:bob", "acknowledge", db_alert, {}, "127.0.0.1")
            ]
            assert api.get("/api/audit", params={"since": "soon"}).status_code == 400
    local = "127.0.0.1"
    assert answer["success"] is True
    assert answer["data"] == [
        entry(T0, "slack:bob", "acknowledge", db_alert, {}, local),
        entry(T0, "env", "rule_update", "queue_depth", {"rule": {"severity": "high"}}, local),
        entry(T0, "env", "rule_add", "queue_depth", {"rule": rule}, local),
        entry(T0, "env", "silence_expire", created["id"], {"rule": "high_error_rate", "by": "api"}, local),
        entry(
            T0,
            "env",
            "silence_add",
            created["id"],
            {"rule": "high_error_rate", "until": T0 + 60 * MINUTE, "by": "api"},
            local,
        ),
        entry(T0, "env", "resolve", mem, {"by": "ann"}, local),
        entry(T0, "env", "note", err, {"by": "ann", "text": "from the API"}, local),
        entry(T0, "env", "acknowledge", err, {"by": "api", "note": "api ack"}, local),
    ]
    assert audit(fired) == answer["data"]
    timeline = fired("show", err, "--json").json()["events"]
    assert [e["detail"] for e in timeline if e["kind"] == "note"] == [{"by": "ann", "text": "from the API"}]


def test_token_changes_record_through_the_same_call(fired):
    """The hook token commands use: ``audit.record`` inside the transaction that writes the token."""
    from pantry_alert import audit as log
    from pantry_alert.store import open_store

    with open_store(fired.db) as store, store.transaction():
        log.record(store, log.Actor.local(), log.TOKEN_ADD, "wall", T0, {"scopes": ["read"], "expiresAt": None})
    with pytest.raises(RuntimeError), open_store(fired.db) as store, store.transaction():
        log.record(store, log.Actor("env"), log.TOKEN_REVOKE, "wall", T0 + MINUTE)
        raise RuntimeError("the token's own write failed")  # the entry goes with it
    assert audit(fired) == [entry(T0, f"cli:{log.login_name()}", "token_add", "wall", {"scopes": ["read"]})]


def test_token_add_and_revoke_are_audited(fired):
    added = fired("token", "add", "wall", "--scope", "read", "--expires", "90d", now=T0 + MINUTE)
    assert added.code == 0, added.err
    assert fired("token", "revoke", "wall", now=T0 + 2 * MINUTE).code == 0
    assert fired("token", "revoke", "wall", now=T0 + 3 * MINUTE).code == 1  # unknown now: nothing written
    assert audit(fired) == [
        entry(T0 + 2 * MINUTE, "cli:ops", "token_revoke", "wall"),
        entry(T0 + MINUTE, "cli:ops", "token_add", "wall", {"scopes": ["read"], "expiresAt": T0 + MINUTE + 90 * DAY}),
    ]

"""Scoped tokens: ``token add | list | revoke`` and their scopes, expiry and revocation on the API
(the application ``serve`` runs, in process; one real ``serve`` for a start with stored tokens only)."""

from __future__ import annotations

import json

import pytest
from api_server import Api
from conftest import BREACH_METRICS, T0, rows

STATE_TABLES = ("alerts", "events", "notifications", "silences", "tokens", "sessions")


def state(cli) -> dict[str, list[tuple]]:
    return {t: rows(cli.db, f"SELECT * FROM {t} ORDER BY rowid") for t in STATE_TABLES}


HOUR = 3_600_000


@pytest.fixture
def fired(cli):
    from conftest import ROOT

    cli.config.write_text((ROOT / "rules.yaml").read_text())
    assert cli.check(BREACH_METRICS).code == 0
    return cli


def add(cli, name: str, scope: str, *args: str, now: int = T0) -> str:
    result = cli("token", "add", name, "--scope", scope, *args, now=now)
    assert result.code == 0, result.err
    token = result.out.strip()
    assert token.startswith("pa_") and len(token) > 40
    return token


def alert_id(cli, rule: str) -> str:
    return next(a["id"] for a in cli("list", "--json").json() if a["ruleId"] == rule)


def status_of(cli, alert: str) -> str:
    return cli("show", alert, "--json").json()["status"]


# ------------------------------------------------------------ command line


def test_add_prints_once_and_stores_only_a_hash(fired):
    token = add(fired, "wall", "read", "--expires", "90d")
    result = fired("token", "list", "--json")
    assert result.code == 0
    assert result.json() == [
        {"name": "wall", "scopes": ["read"], "createdAt": T0, "expiresAt": T0 + 90 * 24 * HOUR, "lastUsedAt": None}
    ]
    table = fired("token", "list")
    assert "wall" in table.out and "read" in table.out and token not in table.out + table.err
    assert token.encode() not in fired.db.read_bytes()
    wal = fired.db.with_name(fired.db.name + "-wal")
    assert not wal.exists() or token.encode() not in wal.read_bytes()
    import hashlib

    assert rows(fired.db, "SELECT hash FROM tokens WHERE name = 'wall'") == [
        (hashlib.sha256(token.encode()).hexdigest(),)
    ]


def test_add_refuses_a_used_name_an_unknown_scope_and_reserved_names(fired):
    add(fired, "ops", "ack,read")
    assert fired("token", "list", "--json").json()[0]["scopes"] == ["read", "ack"]  # canonical order
    again = fired("token", "add", "ops", "--scope", "read")
    assert again.code == 2 and "a token named 'ops' already exists" in again.err and again.out == ""
    unknown = fired("token", "add", "x", "--scope", "read,root")
    assert unknown.code == 2 and "unknown scope 'root'" in unknown.err
    reserved = fired("token", "add", "env", "--scope", "read")
    assert reserved.code == 2 and "reserved" in reserved.err
    bad_name = fired("token", "add", "a b", "--scope", "read")
    assert bad_name.code == 2 and "is not allowed" in bad_name.err
    never = fired("token", "add", "y", "--scope", "read", "--expires", "0s")
    assert never.code == 2


def test_revoke_and_unknown_name(fired):
    add(fired, "ops", "ack")
    result = fired("token", "revoke", "ops")
    assert result.code == 0 and result.out == "Token ops revoked\n"
    assert fired("token", "list", "--json").json() == []
    missing = fired("token", "revoke", "ops")
    assert missing.code == 1 and "no token named 'ops'" in missing.err


def test_list_without_a_database(cli):
    from conftest import ROOT

    cli.config.write_text((ROOT / "rules.yaml").read_text())
    result = cli("token", "list", "--json")
    assert result.code == 0 and result.json() == []


# ------------------------------------------------------------ the API

# (method, path, body, scope it needs)
WRITES = [
    ("POST", "/api/alerts/{alert}/acknowledge", None, "ack"),
    ("POST", "/api/alerts/{alert}/resolve", None, "ack"),
    ("POST", "/api/silences", {"rule": "high_error_rate", "for": "1h"}, "silence"),
    ("PUT", "/api/alerts/rules/high_error_rate", {"rule": {"severity": "high"}}, "rules"),
]


def test_each_scope_allows_its_own_writes_and_nothing_else(fired):
    tokens = {scope: add(fired, f"t-{scope}", scope) for scope in ("read", "ack", "silence", "rules", "admin")}
    target = alert_id(fired, "high_response_time")
    with Api(fired) as s:
        for scope, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"}
            assert s.anon.get("/api/alerts", headers=headers).status_code == 200  # every scope reads
            assert s.anon.get("/metrics", headers=headers).status_code == 200
            for method, path, body, needed in WRITES:
                if scope in (needed, "admin"):
                    continue
                before = state(fired)
                response = s.anon.request(
                    method, path.format(alert=target), headers=headers, content=json.dumps(body) if body else None
                )
                assert response.status_code == 403, (scope, method, path, response.text)
                assert f"lacks the scope '{needed}'" in response.json()["message"]
                assert state(fired) == before  # nothing changed
        assert status_of(fired, target) == "firing"
        # the scope that fits does the write
        ack = s.anon.post(f"/api/alerts/{target}/acknowledge", headers={"Authorization": f"Bearer {tokens['ack']}"})
        assert ack.status_code == 200 and status_of(fired, target) == "acknowledged"
        silence = s.anon.post(
            "/api/silences",
            headers={"Authorization": f"Bearer {tokens['silence']}"},
            json={"rule": "high_error_rate", "for": "1h"},
        )
        assert silence.status_code == 200
        other = alert_id(fired, "high_error_rate")
        resolve = s.anon.post(f"/api/alerts/{other}/resolve", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert resolve.status_code == 200 and status_of(fired, other) == "resolved"
        # no token or a bad one: 401
        for headers in ({}, {"Authorization": "Bearer pa_wrong"}, {"Authorization": f"Basic {tokens['admin']}"}):
            assert s.anon.get("/api/alerts", headers=headers).status_code == 401
        # the server's own token is the admin token "env"
        assert s.client.post(f"/api/alerts/{alert_id(fired, 'failed_login_attempts')}/resolve").status_code == 200
    used = {t["name"]: t["lastUsedAt"] for t in fired("token", "list", "--json").json()}
    assert used["t-read"] == T0 and used["t-ack"] == T0


def test_revocation_and_new_tokens_count_at_once_on_a_running_server(fired):
    first = add(fired, "ops", "read")
    with Api(fired, env={"PANTRY_ALERT_API_TOKEN": ""}) as s:
        headers = {"Authorization": f"Bearer {first}"}
        assert s.anon.get("/api/alerts", headers=headers).status_code == 200
        assert fired("token", "revoke", "ops").code == 0
        assert s.anon.get("/api/alerts", headers=headers).status_code == 401
        second = add(fired, "ops", "read")  # the same name again: a new token, the old one stays dead
        assert s.anon.get("/api/alerts", headers=headers).status_code == 401
        assert s.anon.get("/api/alerts", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_an_expired_token_is_refused(fired):
    old = add(fired, "old", "admin", "--expires", "1h", now=T0 - 2 * HOUR)
    fresh = add(fired, "fresh", "read", "--expires", "1h")
    with Api(fired) as s:
        assert s.anon.get("/api/alerts", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert s.anon.get("/api/alerts", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_serve_starts_with_stored_tokens_only(fired):
    token = add(fired, "only", "read")
    with Api(fired, env={"PANTRY_ALERT_API_TOKEN": ""}) as s:
        assert s.anon.get("/api/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert s.client.get("/api/alerts").status_code == 401  # no env token on this server


def test_required_scopes_of_the_api():
    from pantry_alert.http.auth import api_scope

    assert api_scope("GET", "/api/alerts") == "read"
    assert api_scope("GET", "/metrics") == "read"
    assert api_scope("POST", "/api/alerts/x_1/acknowledge") == "ack"
    assert api_scope("POST", "/api/alerts/x_1/resolve") == "ack"
    assert api_scope("POST", "/api/alerts/x_1/notes") == "ack"
    assert api_scope("POST", "/api/alerts/rules") == "rules"
    assert api_scope("PUT", "/api/alerts/rules/x") == "rules"
    assert api_scope("POST", "/api/silences") == "silence"
    assert api_scope("DELETE", "/api/silences/abc") == "silence"
    assert api_scope("GET", "/api/audit") == "admin"
    assert api_scope("POST", "/api/something-new") == "admin"


def test_scopes_include_read_and_admin_includes_all():
    from pantry_alert.tokens import SCOPES, allows

    for scope in SCOPES:
        assert allows([scope], "read")
        assert allows(["admin"], scope)
    assert not allows(["ack"], "silence") and not allows(["read"], "ack") and not allows([], "read")

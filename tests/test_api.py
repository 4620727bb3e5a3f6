"""``pantry-alert serve``: the application in-process through Starlette's TestClient; one real uvicorn
server in a subprocess for what only a process shows (listening, SIGTERM, its log)."""

from __future__ import annotations

import fcntl
import os
import sqlite3

import pytest
from api_server import TOKEN, Api, ApiServer
from conftest import BREACH_METRICS, MINUTE, T0

PROTECTED = [
    ("GET", "/api/alerts"),
    ("GET", "/api/alerts/history"),
    ("GET", "/api/alerts/stats"),
    ("GET", "/api/alerts/some_id"),
    ("POST", "/api/alerts/some_id/resolve"),
    ("POST", "/api/alerts/some_id/acknowledge"),
    ("POST", "/api/alerts/some_id/notes"),
    ("GET", "/api/audit"),
    ("POST", "/api/alerts/rules"),
    ("PUT", "/api/alerts/rules/high_error_rate"),
    ("GET", "/api/rules"),
    ("GET", "/api/silences"),
    ("POST", "/api/silences"),
    ("DELETE", "/api/silences/1"),
    ("GET", "/metrics"),
]


@pytest.fixture
def fired(cli):
    """The shipped rules after one breaching check at T0: five firing alerts."""
    result = cli.check(BREACH_METRICS)
    assert result.code == 0, result.err
    return cli


@pytest.fixture
def server(fired):
    with Api(fired) as s:
        yield s


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One server for the tests that change nothing (reads, refusals): ``(cli, server)``."""
    from conftest import ROOT, Cli

    cli = Cli(tmp_path_factory.mktemp("shared"))
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    assert cli.check(BREACH_METRICS).code == 0
    with Api(cli) as s:
        yield cli, s


def alert_id(cli, rule: str) -> str:
    return next(a["id"] for a in cli("list", "--json").json() if a["ruleId"] == rule)


def status_of(cli, alert: str) -> str:
    return cli("show", alert, "--json").json()["status"]


# ------------------------------------------------------------ start-up


def test_serve_without_a_token_exits_2(fired):
    env = {"PANTRY_ALERT_API_TOKEN": ""}
    result = fired("serve", "--port", "1", env=env)
    assert result.code == 2
    assert "serve needs an API token: set PANTRY_ALERT_API_TOKEN or api.token in rules.yaml" in result.err
    result = fired("serve", "--host", "0.0.0.0", "--no-auth", env=env)
    assert result.code == 2 and "--no-auth is refused on 0.0.0.0" in result.err


def test_no_auth_on_loopback_serves_without_a_token(fired):
    with Api(fired, env={"PANTRY_ALERT_API_TOKEN": ""}, args=("--no-auth",)) as s:
        response = s.anon.get("/api/alerts")
        assert response.status_code == 200 and len(response.json()["data"]) == 5


def test_token_from_rules_yaml_through_a_variable(fired):
    fired.config.write_text(fired.config.read_text() + 'api: {token: "${MY_API_TOKEN}", stale_after: 10m}\n')
    with Api(fired, env={"PANTRY_ALERT_API_TOKEN": "", "MY_API_TOKEN": "from-yaml-123"}) as s:
        assert s.client.get("/api/alerts").status_code == 401  # the env token is not the yaml one
        good = s.anon.get("/api/alerts", headers={"Authorization": "Bearer from-yaml-123"})
        assert good.status_code == 200
    assert "from-yaml-123" not in s.log()


def test_api_config_section_is_validated(fired):
    fired.config.write_text(fired.config.read_text() + "api: {token: 5, stale: 1m, stale_after: soon}\n")
    result = fired("rules", "validate")
    assert result.code == 2
    assert "api.token: must be a string" in result.err
    assert "unknown key 'stale'" in result.err
    assert "api.stale_after: 'soon' is not a duration" in result.err


@pytest.mark.slow
def test_sigterm_stops_gracefully_with_exit_0(fired):
    s = ApiServer(fired)
    assert s.client.get("/api/alerts").status_code == 200
    for path in ("/api/alerts", "/metrics"):  # refused, logged, and the token is not in the log
        assert s.anon.get(path, headers={"Authorization": "Bearer nearly-" + TOKEN}).status_code == 401
    assert s.stop() == 0
    assert "Shutting down" in s.log() and "stopped" in s.log()
    assert TOKEN not in s.log()


def test_busy_port_exits_2(fired):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = fired("serve", "--port", str(port), env={"PANTRY_ALERT_API_TOKEN": TOKEN})
    assert result.code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.err


# ------------------------------------------------------------- reading


def test_read_routes_return_the_cli_json_shapes(shared):
    cli, server = shared
    expected_active = cli("list", "--json").json()
    assert server.client.get("/api/alerts").json() == {"success": True, "data": expected_active}
    assert len(expected_active) == 5
    critical = server.client.get("/api/alerts", params={"severity": "critical"}).json()["data"]
    assert critical == cli("list", "--severity", "critical", "--json").json() and len(critical) == 2
    by_rule = server.client.get("/api/alerts", params={"rule": "high_error_rate", "type": "error"}).json()["data"]
    assert [a["ruleId"] for a in by_rule] == ["high_error_rate"]

    assert server.client.get("/api/alerts/history").json() == {
        "success": True,
        "data": cli("history", "--json").json(),
    }
    two = server.client.get("/api/alerts/history", params={"limit": "2"}).json()["data"]
    assert two == cli("history", "--limit", "2", "--json").json() and len(two) == 2

    stats = server.client.get("/api/alerts/stats", params={"timeWindow": str(3_600_000)}).json()
    assert stats == {"success": True, "data": cli("stats", "--window", "3600000", "--json").json()}
    assert stats["data"]["total"] == 5 and stats["data"]["active"] == 5
    default = server.client.get("/api/alerts/stats").json()["data"]
    assert default == cli("stats", "--json").json()

    one = alert_id(cli, "high_error_rate")
    detail = server.client.get(f"/api/alerts/{one}").json()
    assert detail == {"success": True, "data": cli("show", one, "--json").json()}
    assert [e["kind"] for e in detail["data"]["events"]][0] == "fired"
    assert {n["channel"] for n in detail["data"]["notifications"]} == {"email", "slack", "webhook", "console"}

    rules = server.client.get("/api/rules").json()
    assert rules == {"success": True, "data": cli("rules", "list", "--json").json()}


def test_active_alerts_follow_every_change_of_the_database(server, fired):
    assert len(server.client.get("/api/alerts").json()["data"]) == 5
    assert len(server.client.get("/api/alerts").json()["data"]) == 5  # answered again unchanged
    assert fired("resolve", alert_id(fired, "high_error_rate")).code == 0  # another process commits
    assert len(server.client.get("/api/alerts").json()["data"]) == 4
    server.client.post(f"/api/alerts/{alert_id(fired, 'failed_login_attempts')}/acknowledge")
    active = server.client.get("/api/alerts").json()["data"]
    assert [a["status"] for a in active if a["ruleId"] == "failed_login_attempts"] == ["acknowledged"]
    assert len(server.client.get("/api/alerts", params={"severity": "critical"}).json()["data"]) == 1
    os.replace(fired.db, fired.tmp / "moved.db")  # a database restored from elsewhere: a new file
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(fired.db) + suffix):
            os.remove(str(fired.db) + suffix)
    assert server.client.get("/api/alerts").json() == {"success": True, "data": []}


def test_unknown_alert_is_404(shared):
    _, server = shared
    response = server.client.get("/api/alerts/no_such_alert_1")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "message": "Alert no_such_alert_1 not found",
        "hint": "`pantry-alert history` lists recent alerts with their ids",
    }
    assert server.client.get("/api/nothing/here").status_code == 404


def test_missing_or_wrong_token_is_401_and_changes_nothing(shared):
    cli, server = shared
    target = alert_id(cli, "high_error_rate")
    for method, path in PROTECTED:
        path = path.replace("some_id", target)
        body = {"by": "mallory"} if method in ("POST", "PUT") else None
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            response = server.anon.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json() == {
                "success": False,
                "message": "missing or invalid API token (send Authorization: Bearer <token>)",
            }
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert status_of(cli, target) == "firing"


def test_healthz_needs_no_token(shared):
    _, server = shared
    response = server.anon.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "lastCheck": T0}


# ----------------------------------------------------------------- writing


def test_resolve_gives_the_documented_messages(server, fired):
    target = alert_id(fired, "high_error_rate")
    response = server.client.post(f"/api/alerts/{target}/resolve", json={"by": "ops", "note": "fixed the pool"})
    assert (response.status_code, response.json()) == (200, {"success": True, "message": "Alert resolved"})
    again = server.client.post(f"/api/alerts/{target}/resolve")
    assert (again.status_code, again.json()) == (
        404,
        {"success": False, "message": "Alert not found or already resolved"},
    )
    unknown = server.client.post("/api/alerts/nope_1/resolve")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"success": False, "message": "Alert not found or already resolved"},
    )
    shown = fired("show", target, "--json").json()
    assert (shown["status"], shown["resolvedBy"], shown["resolvedAt"]) == ("resolved", "ops", T0)
    assert {"at": T0, "kind": "resolved", "detail": {"by": "ops", "note": "fixed the pool"}} in shown["events"]
    pending = [n for n in shown["notifications"] if n["kind"] == "resolved"]
    assert {n["channel"] for n in pending} == {"console"} and {n["status"] for n in pending} == {"pending"}


def test_acknowledge_then_409(server, fired):
    target = alert_id(fired, "failed_login_attempts")
    response = server.client.post(f"/api/alerts/{target}/acknowledge", json={"by": "ann", "note": "on it", "for": "2h"})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"] == "Alert acknowledged"
    assert (body["data"]["status"], body["data"]["acknowledgedBy"], body["data"]["acknowledgedAt"]) == (
        "acknowledged",
        "ann",
        T0,
    )
    again = server.client.post(f"/api/alerts/{target}/acknowledge")
    assert again.status_code == 409
    assert again.json()["message"].startswith(f"Alert {target} is already acknowledged (by ann at ")
    shown = fired("show", target, "--json").json()
    assert {"at": T0, "kind": "acknowledged", "detail": {"by": "ann", "note": "on it", "until": T0 + 7_200_000}} in (
        shown["events"]
    )
    assert server.client.post("/api/alerts/nope_1/acknowledge").status_code == 404
    resolved = alert_id(fired, "high_error_rate")
    server.client.post(f"/api/alerts/{resolved}/resolve")
    conflict = server.client.post(f"/api/alerts/{resolved}/acknowledge")
    assert conflict.status_code == 409 and "already resolved" in conflict.json()["message"]


def test_acknowledge_defaults_to_by_api(server, fired):
    target = alert_id(fired, "database_connection_issues")
    assert server.client.post(f"/api/alerts/{target}/acknowledge").status_code == 200
    assert fired("show", target, "--json").json()["acknowledgedBy"] == "api"


BAD_BODIES = [
    (b"{bad json", "malformed JSON body: "),
    (b"[1, 2]", "the JSON body must be an object, not list"),
    (b'{"by": "x", "colour": 1}', "unknown key(s) 'colour' (allowed: by, for, note)"),
    (b'{"by": 5}', "'by' must be a string"),
    (b'{"for": "soon"}', "for: 'soon' is not a duration"),
    (b'{"for": "0"}', "'for' must be more than 0"),
    (b'{"for": 30}', "for: a bare number (30) is ambiguous"),
    (b"\xff\xfe", "malformed JSON body"),
]


def test_bad_bodies_are_400_and_change_nothing(shared):
    cli, server = shared
    target = alert_id(cli, "failed_login_attempts")
    for body, message in BAD_BODIES:
        response = server.client.post(
            f"/api/alerts/{target}/acknowledge", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (body, response.text)
        assert response.json()["success"] is False and response.json()["message"].startswith(message), body
    assert status_of(cli, target) == "firing"


BAD_PARAMETERS = [
    ("/api/alerts/history?limit=abc", "'limit' must be a whole number, not 'abc'"),
    ("/api/alerts/history?limit=0", "'limit' must be between 1 and 10000, not 0"),
    ("/api/alerts/history?limit=10001", "'limit' must be between 1 and 10000, not 10001"),
    ("/api/alerts/history?since=yesterday", "since: 'yesterday' is not a duration (use e.g. 30s, 15m, 2h, 7d)"),
    ("/api/alerts/stats?timeWindow=abc", "timeWindow: 'abc' is not a duration (use e.g. 30s, 15m, 2h, 7d)"),
    ("/api/alerts/stats?timeWindow=-5", "timeWindow: '-5' is not a duration (use e.g. 30s, 15m, 2h, 7d)"),
    ("/api/alerts?severity=urgent", "'severity' must be one of low, medium, high, critical, not 'urgent'"),
    ("/api/alerts?type=misc", "'type' must be one of performance, error, security, business, not 'misc'"),
]


def test_bad_parameters_are_400(shared):
    _, server = shared
    for path, message in BAD_PARAMETERS:
        response = server.client.get(path)
        assert (response.status_code, response.json()) == (400, {"success": False, "message": message}), path


def test_body_over_64_kib_is_413_and_changes_nothing(shared):
    cli, server = shared
    target = alert_id(cli, "failed_login_attempts")
    big = b'{"note": "' + b"x" * (64 * 1024) + b'"}'
    response = server.client.post(f"/api/alerts/{target}/acknowledge", content=big)
    assert response.status_code == 413
    assert response.json() == {"success": False, "message": "request body over the limit of 64 KiB"}

    def chunks():  # no Content-Length: the limit holds while reading
        yield b'{"note": "'
        for _ in range(80):
            yield b"y" * 1024
        yield b'"}'

    chunked = server.client.post(f"/api/alerts/{target}/resolve", content=chunks())
    assert chunked.status_code == 413
    assert status_of(cli, target) == "firing"


def test_write_while_a_check_holds_the_lock_is_503_with_retry_after(fired):
    fired.config.write_text(fired.config.read_text().replace("lock_timeout: 30s", "lock_timeout: 200ms"))
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s:
        fd = os.open(str(fired.db) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # what a running check holds
            busy = s.client.post(f"/api/alerts/{target}/resolve")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
            assert busy.json()["success"] is False and "past the lock timeout (0.2s)" in busy.json()["message"]
            assert s.client.get("/api/alerts").status_code == 200  # reads never wait for the lock
        finally:
            os.close(fd)
        assert status_of(fired, target) == "firing"
        assert s.client.post(f"/api/alerts/{target}/resolve").json()["message"] == "Alert resolved"


# ------------------------------------------------------------ rule editing


NEW_RULE = {
    "id": "disk_almost_full",
    "name": "Disk Almost Full",
    "type": "performance",
    "severity": "medium",
    "when": "diskUsage > 0.9",
    "cooldown": "30m",
    "channels": ["email", "console"],
    "description": "Disk at {{ '%.0f' | format(diskUsage * 100) }}%",
}


def test_create_and_update_rules(server, fired):
    before = fired.config.read_bytes()
    created = server.client.post("/api/alerts/rules", json={"rule": NEW_RULE})
    assert created.status_code == 200
    assert created.json()["message"] == "Alert rule created" and created.json()["success"] is True
    added = fired.config.read_text()[len(before) :]
    assert fired.config.read_bytes().startswith(before)
    assert added == (
        "\n"
        "  - id: disk_almost_full\n"
        "    name: Disk Almost Full\n"
        "    type: performance\n"
        "    severity: medium\n"
        "    when: diskUsage > 0.9\n"
        "    cooldown: 30m\n"
        "    channels: [email, console]\n"
        "    description: \"Disk at {{ '%.0f' | format(diskUsage * 100) }}%\"\n"
    )
    listed = server.client.get("/api/rules").json()["data"]
    assert [r["id"] for r in listed][-1] == "disk_almost_full"  # the server reloaded rules.yaml

    updated = server.client.put("/api/alerts/rules/disk_almost_full", json={"rule": {"severity": "high"}})
    assert (updated.status_code, updated.json()["message"]) == (200, "Alert rule updated")
    assert updated.json()["data"]["severity"] == "high"
    assert "    severity: high\n    when: diskUsage > 0.9" in fired.config.read_text()
    assert fired("rules", "validate").code in (0, 1)


INVALID_RULES = [
    ({"rule": dict(NEW_RULE, colour="red")}, "rule 'disk_almost_full' is invalid: colour: unknown key 'colour'"),
    ({"rule": dict(NEW_RULE, id="high_error_rate")}, "a rule with id 'high_error_rate' exists already"),
    ({"rule": dict(NEW_RULE, channels=["pager"])}, "rule 'disk_almost_full' is invalid: channels: unknown channel"),
    ({"rule": dict(NEW_RULE, when="diskUsage >")}, "rule 'disk_almost_full' is invalid: when: invalid condition"),
    (
        {"rule": dict(NEW_RULE, description="{{ x.__class__ }}")},
        "rule 'disk_almost_full' is invalid: description: invalid description template",
    ),
    ({"rule": dict(NEW_RULE, cooldown=[1])}, "rule 'disk_almost_full' is invalid: cooldown: [1] is not a duration"),
    ({"rule": {k: v for k, v in NEW_RULE.items() if k != "id"}}, "the rule has no 'id'"),
    ({"rule": "disk"}, 'the body must be {"rule": {...}}'),
    ({"rules": {}}, "unknown key(s) 'rules' (allowed: rule)"),
]


def test_invalid_rule_is_400_and_leaves_rules_yaml_byte_for_byte(shared):
    cli, server = shared
    before = cli.config.read_bytes()
    for body, message in INVALID_RULES:
        response = server.client.post("/api/alerts/rules", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith(message), response.json()["message"]
        assert cli.config.read_bytes() == before


def test_update_unknown_rule_is_404_and_invalid_update_400(server, fired):
    before = fired.config.read_bytes()
    missing = server.client.put("/api/alerts/rules/no_such_rule", json={"rule": {"severity": "low"}})
    assert missing.status_code == 404 and missing.json()["message"] == "no rule with id 'no_such_rule' in the config"
    bad = server.client.put("/api/alerts/rules/high_error_rate", json={"rule": {"cooldown": "often"}})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "rule 'high_error_rate' is invalid: cooldown: 'often' is not a duration (use e.g. 30s, 15m, 2h, 7d)"
    )
    renamed = server.client.put("/api/alerts/rules/high_error_rate", json={"rule": {"id": "other"}})
    assert renamed.status_code == 400 and "cannot be renamed" in renamed.json()["message"]
    assert fired.config.read_bytes() == before


# ------------------------------------------------------------ health, metrics


def test_healthz_turns_503_when_the_last_check_is_older_than_stale_after(fired):
    with Api(fired, now=T0 + 4 * MINUTE) as s:
        assert s.anon.get("/healthz").json() == {"status": "ok", "lastCheck": T0}
        s.set_now(T0 + 6 * MINUTE)
        stale = s.anon.get("/healthz")
        assert stale.status_code == 503
        assert stale.json()["status"] == "stale" and stale.json()["lastCheck"] == T0
        fired.config.write_text(fired.config.read_text() + "api: {stale_after: 10m}\n")  # reloaded on change
        assert s.anon.get("/healthz").status_code == 200


def test_healthz_is_503_before_any_check(cli):
    with Api(cli) as s:
        response = s.anon.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "stale", "lastCheck": None, "message": "no check run recorded yet"}
        assert s.client.get("/api/alerts").json() == {"success": True, "data": []}


def test_metrics_in_prometheus_text_format(server, fired):
    from prometheus_client.parser import text_string_to_metric_families

    server.client.post(f"/api/alerts/{alert_id(fired, 'high_error_rate')}/resolve")
    response = server.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert samples[("pantry_alert_active_alerts", (("rule", "failed_login_attempts"), ("severity", "high")))] == 1
    assert samples[("pantry_alert_active_alerts", (("rule", "high_error_rate"), ("severity", "critical")))] == 0
    assert samples[("pantry_alert_last_check_timestamp_seconds", ())] == T0 / 1000
    assert samples[("pantry_alert_last_check_exit_code", ())] == 0
    db = sqlite3.connect(fired.db)
    for channel, status, count in db.execute("SELECT channel, status, COUNT(*) FROM notifications GROUP BY 1, 2"):
        assert samples[("pantry_alert_notifications", (("channel", channel), ("status", status)))] == count
    assert samples[("pantry_alert_notifications", (("channel", "console"), ("status", "pending")))] == 1


def test_server_errors_never_leak_the_token(shared):
    _, server = shared
    for path in ("/api/alerts", "/metrics"):
        server.anon.get(path, headers={"Authorization": "Bearer nearly-" + TOKEN})
    assert TOKEN not in server.log()


def test_unmatched_method_is_405_in_the_envelope(shared):
    _, server = shared
    response = server.client.delete("/api/alerts")
    assert response.status_code == 405 and response.json()["success"] is False

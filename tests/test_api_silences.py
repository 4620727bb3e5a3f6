"""The silence routes (``/api/silences``) over the library's silence actions, as ``silence add|list|expire``."""

from __future__ import annotations

import pytest
from api_server import Api
from conftest import BREACH_METRICS, T0

HOUR = 3_600_000


@pytest.fixture
def server(cli):
    assert cli.check(BREACH_METRICS).code == 0
    with Api(cli) as s:
        yield s


def test_add_list_and_expire_a_silence(server, cli):
    created = server.client.post(
        "/api/silences", json={"rule": "high_error_rate", "for": "2h", "reason": "deploy", "by": "ann"}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["success"] is True and body["message"] == "Silence created"
    silence = body["data"]
    assert {k: silence[k] for k in ("ruleId", "startsAt", "endsAt", "reason", "createdBy", "status")} == {
        "ruleId": "high_error_rate",
        "startsAt": T0,
        "endsAt": T0 + 2 * HOUR,
        "reason": "deploy",
        "createdBy": "ann",
        "status": "active",
    }
    listed = server.client.get("/api/silences").json()
    assert listed == {"success": True, "data": cli("silence", "list", "--json").json()}
    assert [s["id"] for s in listed["data"]] == [silence["id"]]

    expired = server.client.delete(f"/api/silences/{silence['id']}")
    assert expired.status_code == 200
    assert expired.json()["message"] == "Silence expired" and expired.json()["data"]["status"] != "active"
    again = server.client.delete(f"/api/silences/{silence['id']}")
    assert again.status_code == 409 and again.json()["success"] is False


def test_silence_errors(server, cli):
    unknown_rule = server.client.post("/api/silences", json={"rule": "no_such_rule", "for": "1h"})
    assert unknown_rule.status_code == 404 and "no_such_rule" in unknown_rule.json()["message"]
    assert server.client.delete("/api/silences/999999").status_code == 404
    for body, message in (
        ({"for": "1h"}, "'rule' (the id of the rule to silence) is required"),
        ({"rule": "high_error_rate"}, "'for' (how long, e.g. 2h) is required"),
        ({"rule": "high_error_rate", "for": "ages"}, "for: 'ages' is not a duration"),
        ({"rule": "high_error_rate", "for": "1h", "until": "x"}, "unknown key(s) 'until'"),
    ):
        response = server.client.post("/api/silences", json=body)
        assert response.status_code == 400 and response.json()["message"].startswith(message), response.text
    assert server.client.get("/api/silences").json() == {"success": True, "data": []}


def test_a_silence_scheduled_through_the_api(server):
    body = {"rule": "high_error_rate", "for": "1h", "start": "2025-11-26T12:30:00Z", "reason": "deploy"}
    created = server.client.post("/api/silences", json=body)
    assert created.status_code == 200, created.text
    silence = created.json()["data"]
    assert (silence["status"], silence["startsAt"], silence["endsAt"]) == (
        "upcoming",
        T0 + HOUR // 2,
        T0 + 3 * HOUR // 2,
    )
    bad = server.client.post("/api/silences", json={**body, "start": "noon"})
    assert bad.status_code == 400 and "'start': 'noon' is not an ISO 8601 time with an offset" in bad.text

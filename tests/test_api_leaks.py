"""No request header is reflected into a redirect, and /healthz shows no file system path."""

from __future__ import annotations

from api_server import Api
from conftest import BREACH_METRICS


def test_no_host_reflection_and_no_database_path_in_healthz(cli):
    assert cli.check(BREACH_METRICS).code == 0
    with Api(cli) as server:
        response = server.client.get("/api/alerts/", headers={"Host": "evil.example"}, follow_redirects=False)
        assert response.status_code == 404
        assert "evil.example" not in response.headers.get("location", "") + response.text
        cli.db.write_bytes(b"not a database" * 100)
        health = server.anon.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {
            "status": "error",
            "lastCheck": None,
            "message": "the state database cannot be used (the server log says why)",
        }
        assert str(cli.tmp) not in health.text

"""The web console over HTTP, in process (the application ``serve`` runs): sign-in, the session cookie,
CSRF, scopes, headers, escaping and every page.  The same flows in a real browser against a real
``serve``: test_console_browser.py."""

from __future__ import annotations

import re

import httpx
import pytest
from api_server import TOKEN, Api
from conftest import BREACH_METRICS, ROOT, T0, rows

HOUR = 3_600_000
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
PAGES = ["/", "/fragments/active", "/history", "/silences", "/heartbeats", "/stats", "/rules"]


@pytest.fixture
def fired(cli):
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    assert cli.check(BREACH_METRICS).code == 0
    return cli


def add_token(cli, name: str, scope: str, *args: str, now: int = T0) -> str:
    result = cli("token", "add", name, "--scope", scope, *args, now=now)
    assert result.code == 0, result.err
    return result.out.strip()


def browser(api: Api) -> httpx.Client:
    """A client of the in-process application that keeps cookies and does not follow redirects
    (each is asserted)."""
    from starlette.testclient import TestClient

    return TestClient(api.anon.app, base_url="http://127.0.0.1", follow_redirects=False)


def sign_in(client: httpx.Client, token: str, *, next_: str = "/") -> httpx.Response:
    form = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"login_csrf": login_csrf, "token": token, "next": next_})


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def alert_id(cli, rule: str) -> str:
    return next(a["id"] for a in cli("list", "--json").json() if a["ruleId"] == rule)


def status_of(cli, alert: str) -> str:
    return cli("show", alert, "--json").json()["status"]


def test_sign_in_session_cookie_and_every_page(fired):
    token = add_token(fired, "oncall", "ack")
    with Api(fired) as s, browser(s) as c:
        first = c.get("/history?rule=high_error_rate")
        assert (
            first.status_code == 303 and first.headers["location"] == "/login?next=%2Fhistory%3Frule%3Dhigh_error_rate"
        )
        signed = sign_in(c, token, next_="/history?rule=high_error_rate")
        assert signed.status_code == 303 and signed.headers["location"] == "/history?rule=high_error_rate"
        cookie = next(
            v for k, v in signed.headers.multi_items() if k == "set-cookie" and v.startswith("pantry_session=")
        )
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "max-age", "path", "samesite"} <= attributes and "secure" not in attributes
        assert "samesite=strict" in cookie.lower() and "max-age=43200" in cookie.lower()  # api.session_ttl: 12h
        for path in PAGES:
            page = c.get(path)
            assert page.status_code == 200, (path, page.text)
            for name, value in SECURITY_HEADERS.items():
                assert page.headers[name] == value, (path, name)
            assert "<script>" not in page.text and " style=" not in page.text  # no inline script or style
        assert "Signed in as <strong>oncall</strong>" in c.get("/").text
        for path in ("/login", "/static/console.css", "/static/console.js", "/healthz", "/api/alerts"):
            response = c.get(path)
            assert response.headers["content-security-policy"] == "default-src 'self'", path
        sessions = rows(fired.db, "SELECT token_name, created_at, expires_at FROM sessions")
        assert sessions == [("oncall", T0, T0 + 12 * HOUR)]
        assert token not in str(rows(fired.db, "SELECT * FROM sessions"))


def test_a_bad_token_and_a_forged_sign_in_are_refused(fired):
    with Api(fired) as s, browser(s) as c:
        wrong = sign_in(c, "pa_not-a-token")
        assert wrong.status_code == 401 and "That token is not valid" in wrong.text
        forged = c.post("/login", data={"login_csrf": "made-up", "token": TOKEN})
        assert forged.status_code == 403 and "pantry_session" not in forged.headers.get("set-cookie", "")
        outside = sign_in(c, TOKEN, next_="//evil.example/x")
        assert outside.status_code == 303 and outside.headers["location"] == "/"  # never another origin


def test_csrf_is_checked_on_every_form(fired):
    token = add_token(fired, "admin", "admin")
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s, browser(s) as c:
        sign_in(c, token)
        page = c.get(f"/alerts/{target}")
        good = csrf_of(page)
        posts = [
            (f"/alerts/{target}/acknowledge", {"note": "x"}),
            (f"/alerts/{target}/resolve", {}),
            (f"/alerts/{target}/silence", {"for": "1h"}),
            ("/silences", {"rule": "high_error_rate", "for": "1h"}),
            ("/logout", {}),
        ]
        before = {t: rows(fired.db, f"SELECT * FROM {t}") for t in ("alerts", "events", "silences", "sessions")}
        for path, form in posts:
            for csrf in (None, "", "forged", good[:-1]):
                data = dict(form, **({} if csrf is None else {"csrf": csrf}))
                response = c.post(path, data=data)
                assert response.status_code == 403, (path, csrf)
                assert "nothing was changed" in response.text
        assert {t: rows(fired.db, f"SELECT * FROM {t}") for t in before} == before
        done = c.post(f"/alerts/{target}/acknowledge", data={"csrf": good, "note": "on it", "for": "2h"})
        assert done.status_code == 303 and done.headers["location"] == f"/alerts/{target}?done=acknowledged"
        alert = fired("show", target, "--json").json()
        assert alert["status"] == "acknowledged" and alert["acknowledgedBy"] == "admin"
        assert alert["events"][-1]["detail"] == {"by": "admin", "note": "on it", "until": T0 + 2 * HOUR}


def test_read_only_tokens_cannot_act(fired):
    token = add_token(fired, "wall", "read")
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s, browser(s) as c:
        sign_in(c, token)
        page = c.get(f"/alerts/{target}")
        assert not re.search(r"action=\"/alerts/[^\"]+/(acknowledge|resolve|silence)", page.text)
        assert "can read only" in page.text
        csrf = csrf_of(page)  # the sign-out form's
        for path, form in [
            (f"/alerts/{target}/acknowledge", {}),
            (f"/alerts/{target}/resolve", {}),
            (f"/alerts/{target}/silence", {"for": "1h"}),
            ("/silences", {"rule": "high_error_rate", "for": "1h"}),
        ]:
            response = c.post(path, data=dict(form, csrf=csrf))
            assert response.status_code == 403 and "needs the scope" in response.text, path
        assert status_of(fired, target) == "firing"
        assert fired("silence", "list", "--json").json() == []


def test_without_a_session_forms_are_401_and_pages_go_to_sign_in(fired):
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s, browser(s) as c:
        response = c.post(f"/alerts/{target}/resolve", data={"csrf": "x"})
        assert response.status_code == 401
        assert c.get(f"/alerts/{target}").headers["location"].startswith("/login?next=")
        stolen = browser(s).get("/", headers={"Cookie": "pantry_session=guessed"})
        assert stolen.status_code == 303
    assert status_of(fired, target) == "firing"


def test_revoking_the_token_or_signing_out_ends_the_session(fired):
    token = add_token(fired, "ops", "ack")
    with Api(fired) as s, browser(s) as c, browser(s) as other:
        sign_in(c, token)
        sign_in(other, token)
        assert c.get("/").status_code == 200 and other.get("/").status_code == 200
        out = c.post("/logout", data={"csrf": csrf_of(c.get("/"))})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert c.get("/").status_code == 303
        assert other.get("/").status_code == 200  # only that session ended
        assert fired("token", "revoke", "ops").code == 0
        assert other.get("/").status_code == 303
        assert rows(fired.db, "SELECT COUNT(*) FROM sessions") == [(0,)]


def test_sessions_expire_after_the_ttl_and_with_their_token(fired):
    fired.config.write_text(fired.config.read_text() + "api: {session_ttl: 1h}\n")
    token = add_token(fired, "ops", "read", "--expires", "3h")
    with Api(fired) as s, browser(s) as c:
        signed = sign_in(c, token)
        assert "max-age=3600" in signed.headers["set-cookie"].lower()
        s.set_now(T0 + 30 * 60_000)
        assert c.get("/").status_code == 200
        s.set_now(T0 + HOUR + 1)
        assert c.get("/").status_code == 303
        # a sign-in shortly before the token expires ends with the token
        s.set_now(T0 + 150 * 60_000)
        signed = sign_in(c, token)
        assert "max-age=1800" in signed.headers["set-cookie"].lower()
        s.set_now(T0 + 3 * HOUR)
        assert c.get("/").status_code == 303


def test_secure_cookie_behind_https(fired):
    fired.config.write_text(fired.config.read_text() + "api: {public_url: 'https://alerts.example.com'}\n")
    with Api(fired) as s, browser(s) as c:
        form = c.get("/login")
        assert "; secure" in form.headers["set-cookie"].lower()  # so this plain-HTTP client does not send it back
        login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text).group(1)
        signed = browser(s).post(
            "/login",
            data={"login_csrf": login_csrf, "token": TOKEN},
            headers={"Cookie": f"pantry_login={login_csrf}"},
        )
        assert signed.status_code == 303
        assert "; secure" in signed.headers["set-cookie"].lower()


def test_hostile_text_is_escaped(cli):
    cli.config.write_text(
        "rules:\n"
        "  - id: hostile\n"
        '    name: "<img src=x onerror=alert(1)>"\n'
        "    type: error\n"
        "    severity: critical\n"
        "    when: errorRate > 0.05\n"
        '    description: "<script>alert(2)</script> & {{ errorRate }}"\n'
        '    labels: {team: "<b>ops</b>"}\n'
    )
    assert cli.check({"errorRate": 0.1}).code == 0
    target = alert_id(cli, "hostile")
    with Api(cli) as s, browser(s) as c:
        sign_in(c, TOKEN)
        for path in ("/", f"/alerts/{target}", "/history", "/rules", "/fragments/active"):
            page = c.get(path)
            assert "<img src=x" not in page.text and "<script>alert" not in page.text and "<b>ops" not in page.text
        page = c.get(f"/alerts/{target}").text
        assert (
            "&lt;img src=x onerror=alert(1)&gt;" in page and "&lt;script&gt;alert(2)&lt;/script&gt; &amp; 0.1" in page
        )


def test_console_actions_go_through_the_library(fired):
    token = add_token(fired, "admin", "admin")
    target = alert_id(fired, "database_connection_issues")
    with Api(fired) as s, browser(s) as c:
        sign_in(c, token)
        csrf = csrf_of(c.get("/"))
        assert c.post(f"/alerts/{target}/resolve", data={"csrf": csrf, "note": "fixed"}).status_code == 303
        again = c.post(f"/alerts/{target}/resolve", data={"csrf": csrf})
        assert again.status_code == 404 and "Alert not found or already resolved" in again.text
        silenced = c.post(
            f"/alerts/{alert_id(fired, 'high_error_rate')}/silence",
            data={"csrf": csrf, "for": "2h", "reason": "deploy"},
        )
        assert silenced.status_code == 303
        [silence] = fired("silence", "list", "--json").json()
        assert silence["ruleId"] == "high_error_rate" and silence["createdBy"] == "admin"
        assert silence["reason"] == "deploy" and silence["endsAt"] == T0 + 2 * HOUR
        expired = c.post(f"/silences/{silence['id']}/expire", data={"csrf": csrf})
        assert expired.status_code == 303 and expired.headers["location"] == "/silences?done=silence-expired"
        assert fired("silence", "list", "--json").json()[0]["status"] == "expired"
        created = c.post("/silences", data={"csrf": csrf, "rule": "nope", "for": "1h"})
        assert created.status_code == 404 and "unknown rule" in created.text
        bad = c.post("/silences", data={"csrf": csrf, "rule": "high_error_rate", "for": "soon"})
        assert bad.status_code == 400
    resolved = fired("show", target, "--json").json()
    assert resolved["resolvedBy"] == "admin" and resolved["events"][-1]["detail"] == {"by": "admin", "note": "fixed"}


def test_history_pages_by_key_and_filters(fired):
    for k in range(1, 4):  # more alerts, 6 h apart (two days): resolve and fire again
        at = T0 + k * 6 * HOUR
        for a in fired("list", "--json").json():
            assert fired("resolve", a["id"], now=at - 1).code == 0
        assert fired.check(BREACH_METRICS, now=at).code == 0
    total = len(fired("history", "--json", "--limit", "1000").json())
    assert total == 20
    with Api(fired) as s, browser(s) as c:
        sign_in(c, TOKEN)
        seen, url = [], "/history?limit=7"
        while url:
            page = c.get(url)
            assert page.status_code == 200
            seen += re.findall(r'href="/alerts/([^"]+)"', page.text)
            found = re.search(r'href="([^"]+)" rel="next"', page.text)
            url = found.group(1).replace("&amp;", "&") if found else None
            if url:
                url += "&limit=7"
        assert len(seen) == total == len(set(seen))
        critical = c.get("/history?severity=critical&status=resolved&rule=high_error_rate").text
        assert len(re.findall(r'href="/alerts/high_error_rate_', critical)) == 3
        assert c.get("/history?severity=bogus").status_code == 400
        assert c.get("/history?from=2025-11-27").text.count('href="/alerts/') == 10
        assert c.get("/history?to=2025-11-26").text.count('href="/alerts/') == 10


def test_no_auth_console(fired):
    with Api(fired, env={"PANTRY_ALERT_API_TOKEN": ""}, args=("--no-auth",)) as s, browser(s) as c:
        page = c.get("/login")
        assert "runs without authentication" in page.text
        assert sign_in(c, "").status_code == 303
        assert "Signed in as <strong>anonymous</strong>" in c.get("/").text


def test_an_alert_page_charts_the_values_its_rule_reads(fired):
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s, browser(s) as c:
        sign_in(c, TOKEN)
        assert "<polyline" not in c.get(f"/alerts/{target}").text  # one sample: no chart yet
        breach = dict(BREACH_METRICS, errorRate=0.09)
        assert fired.check(breach, now=T0 + 60_000).code == 0
        s.set_now(T0 + 60_000)
        page = c.get(f"/alerts/{target}").text
        assert page.count("<polyline") == 1 and "errorRate: 2 samples, last 0.09" in page
        assert "<svg" in page and " style=" not in page


def test_the_heartbeats_page_shows_each_heartbeat(fired):
    with Api(fired) as s, browser(s) as c:
        sign_in(c, TOKEN)
        assert "No heartbeats are configured" in c.get("/heartbeats").text
    fired.config.write_text(
        fired.config.read_text() + "heartbeats:\n  nightly_backup: {every: 1d, channels: [console]}\n"
    )
    with Api(fired) as s, browser(s) as c:
        sign_in(c, TOKEN)
        page = c.get("/heartbeats").text
        assert "<td>nightly_backup</td><td>new</td>" in page


def test_the_silences_page_shows_the_maintenance_windows(fired):
    fired.config.write_text(
        fired.config.read_text()
        + "maintenance:\n  - name: weekly-backup\n    rules: [high_error_rate]\n"
        + "    weekly: [{days: [sun], start: '02:00', end: '04:00'}]\n    timezone: UTC\n"
    )
    with Api(fired) as s, browser(s) as c:
        sign_in(c, TOKEN)
        page = c.get("/silences").text
        assert "<td>weekly-backup</td><td>upcoming</td><td>2025-11-30 02:00:00 UTC</td>" in page


def test_the_active_list_and_the_alert_page_say_what_holds_an_alerts_notices(fired):
    fired.config.write_text(
        fired.config.read_text()
        + "maintenance:\n  - name: midday\n    rules: [high_error_rate]\n"
        + "    weekly: [{days: [wed], start: '11:00', end: '13:00'}]\n    timezone: UTC\n"
    )
    assert fired("silence", "add", "high_response_time", "--for", "1h").code == 0
    assert fired.check(BREACH_METRICS, now=T0 + 60_000).code == 0  # the window is open: the notice is held
    held, silenced = alert_id(fired, "high_error_rate"), alert_id(fired, "high_response_time")
    with Api(fired, now=T0 + 60_000) as s, browser(s) as c:
        sign_in(c, TOKEN)
        rows = c.get("/fragments/active").text
        assert re.search(rf'{held}">[^<]*</a></td>\s*<td>high_error_rate</td>\s*<td>firing · held by window</td>', rows)
        assert re.search(
            rf'{silenced}">[^<]*</a></td>\s*<td>high_response_time</td>\s*<td>firing · silenced</td>', rows
        )
        assert '<dd id="status">firing · held by window</dd>' in c.get(f"/alerts/{held}").text
    listed = fired("list", now=T0 + 60_000).out
    assert listed.count("held by window") == 1 and listed.count("silenced") == 1
    assert "firing (notifications held by a maintenance window)" in fired("show", held, now=T0 + 60_000).out
    assert "firing (notifications muted by a silence)" in fired("show", silenced, now=T0 + 60_000).out


def test_a_note_added_from_the_console_is_on_the_timeline_and_audited(fired):
    token = add_token(fired, "alice", "ack")
    target = alert_id(fired, "high_error_rate")
    with Api(fired) as s, browser(s) as c:
        sign_in(c, token)
        page = c.get(f"/alerts/{target}")
        assert "No notes." in page.text
        added = c.post(f"/alerts/{target}/notes", data={"csrf": csrf_of(page), "text": "rolled back <b>v2</b>"})
        assert added.status_code == 303
        shown = c.get(f"/alerts/{target}")
        assert "<strong>alice</strong>: rolled back &lt;b&gt;v2&lt;/b&gt;</li>" in shown.text
        empty = c.post(f"/alerts/{target}/notes", data={"csrf": csrf_of(shown), "text": "  "})
        assert empty.status_code == 400
    note = fired("show", target, "--json").json()["events"][-1]
    assert (note["kind"], note["detail"]) == ("note", {"by": "alice", "text": "rolled back <b>v2</b>"})
    [entry] = [e for e in fired("audit", "--json").json() if e["action"] == "note"]
    assert (entry["actor"], entry["target"], entry["details"]) == ("alice", target, {"text": "rolled back <b>v2</b>"})

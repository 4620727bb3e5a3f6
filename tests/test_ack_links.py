"""Signed acknowledge links through a real ``serve``: GET shows a page and changes nothing, the
page's own form POST acknowledges, and tampered, foreign, expired or missing signatures are 403."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from api_server import Api
from conftest import T0, rows
from hypothesis import given
from hypothesis import strategies as st

from pantry_alert import links

MINUTE = 60_000
SECRET = "link-secret-0123456789abcdefghijklmnop"
PUBLIC = "https://alerts.example.com"
CPU, MEM = f"cpu_high_{T0}", f"mem_high_{T0}"


def config(cli, reach, ttl="24h"):
    sections = {name: reach.sections()[name] for name in ("pagerduty", "ntfy")}
    cli.config.write_text(
        f"api: {json.dumps({'public_url': PUBLIC, 'link_secret': SECRET, 'link_ttl': ttl})}\n"
        f"channels: {json.dumps(sections)}\n"
        "rules:\n"
        "  - {id: cpu_high, name: CPU High, type: performance, severity: high, when: cpu > 90,"
        " channels: [pagerduty, ntfy], description: '<b>CPU</b> at {{ cpu }}%'}\n"
        "  - {id: mem_high, name: Memory High, type: performance, severity: medium, when: mem > 90,"
        " channels: [ntfy]}\n"
    )


class Form(HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.action = attrs["action"]
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs["name"]] = attrs["value"]


def state(cli) -> list[tuple]:
    return rows(cli.db, "SELECT id, status, acknowledged_by FROM alerts ORDER BY id") + rows(
        cli.db, "SELECT count(*) FROM events"
    )


def local(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_the_link_in_each_notice_is_signed_over_the_id_and_expiry(cli, reach):
    config(cli, reach, ttl="2h")
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 10}))).code == 0
    (ntfy,) = reach["ntfy"].received
    link = ntfy.body["actions"][-1]["url"]
    exp = T0 + 2 * 60 * MINUTE
    sig = links.signature(SECRET, CPU, exp)
    assert link == f"{PUBLIC}/ack/{CPU}?exp={exp}&sig={sig}"
    import hashlib
    import hmac

    assert sig == hmac.new(SECRET.encode(), f"{CPU}.{exp}".encode(), hashlib.sha256).hexdigest()


def test_a_short_link_secret_is_a_configuration_error(cli):
    cli.config.write_text(
        "api: {public_url: 'https://a.example', link_ttl: 0s}\n"
        "rules:\n  - {id: a, name: A, type: error, severity: high, when: x > 1}\n"
    )
    result = cli("rules", "validate", env={"PANTRY_ALERT_LINK_SECRET": "short"})
    assert result.code == 2
    assert "PANTRY_ALERT_LINK_SECRET (environment): the link secret must be at least 32 characters" in result.err
    assert "api.link_ttl: must be a positive duration" in result.err


def test_get_changes_nothing_the_form_post_acknowledges_and_bad_links_are_refused(cli, reach):
    config(cli, reach)
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 95}))).code == 0
    by_title = {r.body["title"]: r.body["actions"][-1]["url"] for r in reach["ntfy"].received}
    cpu_link, mem_link = by_title["[HIGH] CPU High"], by_title["[MEDIUM] Memory High"]
    before = state(cli)
    exp = T0 + 24 * 60 * MINUTE
    with Api(cli, now=T0 + 5 * MINUTE) as server:
        page = server.anon.get(local(cpu_link))
        assert page.status_code == 200, server.log()
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
        assert "&lt;b&gt;CPU&lt;/b&gt; at 95%" in page.text and "<b>CPU" not in page.text
        assert "[HIGH] CPU High" in page.text and "style=" not in page.text
        assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/console.js" defer>']
        assert server.anon.head(local(cpu_link)).status_code in (200, 405)
        assert state(cli) == before  # a mail scanner following the link acknowledges nothing

        cpu_sig = links.signature(SECRET, CPU, exp)
        refused = {
            "tampered signature": f"/ack/{CPU}?exp={exp}&sig={'0' * 64}",
            "another alert's link": f"/ack/{MEM}?exp={exp}&sig={cpu_sig}",
            "changed expiry": f"/ack/{CPU}?exp={exp + 1}&sig={cpu_sig}",
            "padded expiry": f"/ack/{CPU}?exp=0{exp}&sig={cpu_sig}",
            "upper-case signature": f"/ack/{CPU}?exp={exp}&sig={cpu_sig.upper()}",
            "missing signature": f"/ack/{CPU}?exp={exp}",
            "nothing": f"/ack/{CPU}",
            "expired": f"/ack/{CPU}?exp={T0}&sig={links.signature(SECRET, CPU, T0)}",
            "another secret": f"/ack/{CPU}?exp={exp}&sig={links.signature('x' * 40, CPU, exp)}",
        }
        for what, path in refused.items():
            answer = server.anon.get(path)
            assert answer.status_code == 403, what
            post = server.anon.post(path.split("?")[0], data=dict(re.findall(r"(exp|sig)=([^&]*)", path)))
            assert post.status_code == 403, what
        assert state(cli) == before

        form = Form()
        form.feed(page.text)
        assert form.action == f"/ack/{CPU}" and set(form.fields) == {"exp", "sig"}
        done = server.anon.post(form.action, data={**form.fields, "name": "Dana", "note": "on it"})
        assert done.status_code == 200 and "Acknowledged by Dana" in done.text
        again = server.anon.post(form.action, data={**form.fields, "name": "Eve"})
        assert again.status_code == 409 and "already acknowledged" in again.text
        assert "Nothing to acknowledge" in server.anon.get(local(cpu_link)).text

        form = Form()
        form.feed(server.anon.get(local(mem_link)).text)
        assert server.anon.post(form.action, data=form.fields).status_code == 200
    assert rows(cli.db, "SELECT id, status, acknowledged_by, ack_note FROM alerts ORDER BY id") == [
        (CPU, "acknowledged", "Dana", "on it"),
        (MEM, "acknowledged", "link", None),
    ]
    audited = [(e["actor"], e["action"], e["target"], e["details"].get("by")) for e in cli("audit", "--json").json()]
    assert sorted(audited) == [("link", "acknowledge", CPU, "Dana"), ("link", "acknowledge", MEM, None)]
    assert {e["client"] for e in cli("audit", "--json").json()} == {"127.0.0.1"}
    # PagerDuty follows: the next check sends the acknowledgement (ntfy is not told)
    reach.reset()
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 95})), now=T0 + 6 * MINUTE).code == 0
    assert [r.body for r in reach["pagerduty"].received] == [
        {"routing_key": reach.sections()["pagerduty"]["routing_key"], "dedup_key": CPU, "event_action": "acknowledge"}
    ]
    assert reach["ntfy"].received == []


def test_links_are_404_when_not_enabled_and_the_api_face_tells_pagerduty(cli, reach):
    config(cli, reach)
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 10}))).code == 0
    cli.config.write_text(re.sub(r"^api: .*$", "api: {}", cli.config.read_text(), flags=re.M))
    with Api(cli, now=T0 + MINUTE) as server:
        exp = T0 + 24 * 60 * MINUTE
        assert server.anon.get(f"/ack/{CPU}?exp={exp}&sig={links.signature(SECRET, CPU, exp)}").status_code == 404
        assert server.client.post(f"/api/alerts/{CPU}/acknowledge", json={"by": "api-user"}).status_code == 200
    reach.reset()
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 10})), now=T0 + 2 * MINUTE).code == 0
    assert [r.body["event_action"] for r in reach["pagerduty"].received] == ["acknowledge"]


ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@given(alert_id=ids, exp=st.integers(min_value=T0 + 1, max_value=2**52), position=st.integers(0, 63))
def test_a_signature_verifies_only_its_own_id_and_expiry(alert_id, exp, position):
    sig = links.signature(SECRET, alert_id, exp)
    assert links.verify(SECRET, alert_id, str(exp), sig, T0)
    assert not links.verify(SECRET, alert_id, str(exp), sig, exp)  # expired at exp
    flipped = sig[:position] + ("0" if sig[position] != "0" else "1") + sig[position + 1 :]
    assert not links.verify(SECRET, alert_id, str(exp), flipped, T0)
    assert not links.verify(SECRET, alert_id + "x", str(exp), sig, T0)
    assert not links.verify(SECRET, alert_id, str(exp + 1), sig, T0)
    assert not links.verify(SECRET + "x", alert_id, str(exp), sig, T0)
    assert not links.verify(SECRET, alert_id, None, sig, T0) and not links.verify(SECRET, alert_id, str(exp), None, T0)


def test_slacks_button_tells_pagerduty(cli, reach):
    from pytest_httpserver import HTTPServer
    from test_api_slack import SECRET as SLACK_SECRET
    from test_api_slack import press, sign

    config(cli, reach)
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 10}))).code == 0
    with HTTPServer(host="127.0.0.1") as slack_api:
        slack_api.expect_request("/api/chat.update").respond_with_json({"ok": True})
        slack_api.expect_request("/actions/T1/1/x").respond_with_data("ok")
        env = {"SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack_api.url_for("/api/")}
        with Api(cli, env=env, now=T0 + MINUTE) as server:
            body = press(CPU, slack_api.url_for("/actions/T1/1/x"))
            assert server.anon.post("/slack/actions", content=body, headers=sign(body)).status_code == 200
    assert rows(cli.db, "SELECT acknowledged_by FROM alerts WHERE id = ?", CPU) == [("slack:alice",)]
    reach.reset()
    assert cli("check", "--metrics-file", str(cli.metrics({"cpu": 95, "mem": 10})), now=T0 + 2 * MINUTE).code == 0
    assert [r.body["event_action"] for r in reach["pagerduty"].received] == ["acknowledge"]


def test_email_carries_the_link_as_a_button_and_slack_keeps_its_own(world):
    from delivery_world import ALERT_ID, BREACH

    api = f"api: {json.dumps({'public_url': PUBLIC, 'link_secret': SECRET})}"
    world.config(channels=("email", "slack"), sections=api)
    assert world.check(BREACH).code == 0
    link = f"{PUBLIC}/ack/{ALERT_ID}?exp={T0 + 24 * 60 * MINUTE}&sig={links.signature(SECRET, ALERT_ID, T0 + 24 * 60 * MINUTE)}"
    (mail,) = world.mailbox.messages
    html = mail.get_body(("html",)).get_content()
    assert f'<a class="ack-link" href="{link.replace("&", "&amp;")}"' in html
    assert f"Acknowledge: {link}" in mail.get_body(("plain",)).get_content()
    (post,) = world.slack.received
    assert link not in json.dumps(post.body) and "acknowledge_alert" in json.dumps(post.body)

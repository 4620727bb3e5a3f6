"""The web console in a real browser: Playwright driving Debian's Chromium against a real ``serve``.

One browser for the module's tests; a fresh server (and database) per test.
The cases the browser adds nothing to (every form's CSRF and scope checks,
every page) are in test_console.py, in process; here a few walks prove the
pages, forms, session and script work in a browser, with and without
JavaScript.  Every test also checks that no request left the server's origin,
that no dialog opened and that the browser reported no error (a Content-
Security-Policy violation is one).  ``PANTRY_ALERT_SCREENSHOTS=DIR`` saves the
screenshots of docs/console.md there (``python docs/screenshots.py``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from api_server import ApiServer
from conftest import MINUTE, ROOT, SEED_METRICS, T0

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOUR = 3_600_000
NOW = T0 + MINUTE  # the sites' clock: a second check has run, so the alerts have a history to chart
SCREENSHOTS = os.environ.get("PANTRY_ALERT_SCREENSHOTS")

# one browser for these tests: with `--dist loadgroup` they share a worker and so one Chromium
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chromium")]


@pytest.fixture(scope="module")
def chromium():
    """One browser for this module's tests.  Not for the session: Playwright's sync API keeps an event
    loop running in this thread while it is open, and other modules' tests call ``asyncio.run``."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Site:
    """A served installation with two tokens, and what the browser did on it."""

    def __init__(self, cli, server, tokens):
        self.cli, self.server, self.tokens = cli, server, tokens
        self.base = server.base
        self.outside: list[str] = []  # requests that left the origin
        self.dialogs: list[str] = []
        self.errors: list[str] = []  # the browser's console errors

    def page(self, chromium, *, js: bool = True):
        context = chromium.new_context(
            java_script_enabled=js, base_url=self.base, viewport={"width": 1200, "height": 800}
        )

        # Noted, not intercepted: routing every request through the test costs more than the pages.
        context.on(
            "request", lambda request: request.url.startswith(self.base + "/") or self.outside.append(request.url)
        )
        page = context.new_page()
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        return page

    def clean(self) -> None:
        assert self.outside == [] and self.dialogs == [] and self.errors == []

    def sign_in(self, page, token_name: str = "admin") -> None:
        page.goto("/")
        assert page.url.startswith(self.base + "/login?next=")
        shoot(page, "console-login")
        page.fill("#token", self.tokens[token_name])
        page.click("form.login button[type=submit]")
        page.wait_for_url(self.base + "/")

    def alert_id(self, rule: str) -> str:
        return next(a["id"] for a in self.cli("list", "--json").json() if a["ruleId"] == rule)

    def show(self, alert_id: str) -> dict:
        return self.cli("show", alert_id, "--json").json()


def shoot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _token(cli, name: str, scope: str) -> str:
    result = cli("token", "add", name, "--scope", scope)
    assert result.code == 0, result.err
    return result.out.strip()


@pytest.fixture
def site(cli):
    cli.config.write_text((ROOT / "rules.yaml").read_text())
    assert cli.check(SEED_METRICS).code == 0
    assert cli.check(dict(SEED_METRICS, errorRate=0.0912, p95ResponseTime=2300), now=NOW).code == 0  # history
    tokens = {"admin": _token(cli, "alice", "admin"), "wall": _token(cli, "wall", "read")}
    with ApiServer(cli, now=NOW) as server:
        yield Site(cli, server, tokens)


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_sign_in_list_open_acknowledge_resolve_and_silence(chromium, site, js):
    page = site.page(chromium, js=js)
    site.sign_in(page)
    rows = page.locator("#active-rows tr")
    assert rows.count() == 5
    assert page.locator("text=Signed in as").inner_text().startswith("Signed in as alice")
    shoot(page, "console-active") if js else None

    target = site.alert_id("high_error_rate")
    page.click("text=High Error Rate")
    page.wait_for_url(f"{site.base}/alerts/{target}")
    assert page.locator("h1").inner_text() == "critical High Error Rate"
    assert page.locator(".description").inner_text() == "Error rate is 7.34% (threshold: 5%)"
    assert page.locator("figure.chart figcaption").inner_text() == "errorRate: 2 samples, last 0.0912"
    if js:  # only a script can tamper with a form's hidden CSRF token
        a_forged_form_is_refused(site, page, target)

    page.fill("#ack-note", "looking <b>now</b>")
    page.fill("#ack-for", "2h")
    page.click("form[action$='/acknowledge'] button")
    page.wait_for_url(f"{site.base}/alerts/{target}?done=acknowledged")
    assert page.locator(".message").inner_text() == "Alert acknowledged."
    assert page.locator("#status").inner_text() == "acknowledged"
    assert "note: looking <b>now</b>" in page.locator("table.timeline").inner_text()
    shoot(page, "console-alert") if js else None
    alert = site.show(target)
    assert alert["status"] == "acknowledged" and alert["acknowledgedBy"] == "alice"
    assert alert["events"][-1]["detail"] == {"by": "alice", "note": "looking <b>now</b>", "until": NOW + 2 * HOUR}

    page.fill("#resolve-note", "fixed the pool")
    page.click("form[action$='/resolve'] button")
    page.wait_for_url(f"{site.base}/alerts/{target}?done=resolved")
    assert page.locator("#status").inner_text() == "resolved"
    assert site.show(target)["resolvedBy"] == "alice"

    other = site.alert_id("high_response_time")
    page.goto(f"/alerts/{other}")
    page.select_option("#silence-for", "4h")
    page.fill("#silence-reason", "deploy")
    page.click("form[action$='/silence'] button")
    page.wait_for_url(f"{site.base}/alerts/{other}?done=silenced")
    [silence] = site.cli("silence", "list", "--json").json()
    assert (silence["ruleId"], silence["createdBy"], silence["reason"]) == ("high_response_time", "alice", "deploy")
    assert silence["endsAt"] == NOW + 4 * HOUR

    page.click("nav >> text=Silences")
    assert "high_response_time" in page.locator("table.silences").inner_text()
    shoot(page, "console-silences") if js else None
    page.click("nav >> text=History")
    assert page.locator("table.alerts tbody tr").count() == 5
    shoot(page, "console-history") if js else None
    page.click("nav >> text=Statistics")
    assert page.locator("figure.chart svg rect").count() >= 14
    shoot(page, "console-stats") if js else None
    page.click("nav >> text=Rules")
    assert page.locator("table.rules tbody tr").count() == 5
    page.click("form.who button")
    page.wait_for_url(f"{site.base}/login")
    page.goto("/")
    assert page.url.startswith(site.base + "/login")
    if not js:  # the same browser, signed in again with a read-only token
        a_read_only_token_cannot_act(site, page, site.alert_id("memory_usage_high"))
    site.clean()


def a_forged_form_is_refused(site: Site, page, target: str) -> None:
    before = site.show(target)
    page.evaluate("document.querySelector(\"form[action$='/acknowledge'] input[name=csrf]\").value = 'forged'")
    page.fill("#ack-note", "should not land")
    with page.expect_response(re.compile(r".*/acknowledge$")) as answer:
        page.click("form[action$='/acknowledge'] button")
    assert answer.value.status == 403
    assert "nothing was changed" in page.locator("p.error").inner_text()
    assert site.show(target) == before
    site.errors = [e for e in site.errors if "403" not in e]  # the refused POST itself is logged as an error
    page.goto(f"/alerts/{target}")  # a fresh form


def a_read_only_token_cannot_act(site: Site, page, target: str) -> None:
    site.sign_in(page, "wall")
    page.goto(f"/alerts/{target}")
    assert page.locator("form.action").count() == 0
    assert "Token 'wall' can read only." in page.locator("section.actions").inner_text()
    csrf = page.locator("form.who input[name=csrf]").get_attribute("value")
    for action in ("acknowledge", "resolve", "silence"):
        response = page.request.post(f"/alerts/{target}/{action}", form={"csrf": csrf, "for": "1h"}, max_redirects=0)
        assert response.status == 403, action
    assert site.show(target)["status"] == "firing"
    assert [s["ruleId"] for s in site.cli("silence", "list", "--json").json()] == ["high_response_time"]


def test_auto_refresh_shows_a_new_alert_without_a_reload_and_hostile_text_as_text(chromium, cli):
    cli.config.write_text(
        "rules:\n"
        "  - id: hostile\n"
        '    name: "<img src=x onerror=alert(1)>"\n'
        "    type: error\n"
        "    severity: critical\n"
        "    when: errorRate > 0.05\n"
        "    description: \"<script>alert('desc')</script><svg onload=alert(3)> {{ errorRate }}\"\n"
        '    labels: {team: "<iframe src=//evil.example>"}\n'
    )
    assert cli.check({"errorRate": 0.01}).code == 0
    token = _token(cli, "alice", "read")
    with ApiServer(cli) as server:
        site = Site(cli, server, {"admin": token})
        page = site.page(chromium)
        page.clock.install()
        site.sign_in(page)
        assert page.locator("#active-rows").inner_text().strip() == "No active alerts."
        page.evaluate("window.stillTheSamePage = true")
        assert cli.check({"errorRate": 0.1}, now=T0 + MINUTE).code == 0
        with page.expect_response(f"{site.base}/fragments/active"):
            page.clock.run_for(15_000)
        page.locator("#active-rows a").wait_for()
        assert page.locator("#active-rows tr").count() == 1
        assert page.locator("#active-rows a").inner_text() == "<img src=x onerror=alert(1)>"
        assert page.evaluate("window.stillTheSamePage") is True
        assert page.locator("#refreshed").inner_text().startswith("Refreshed at")
        assert page.locator("main img, main script, main iframe").count() == 0

        page.click("#active-rows a")
        assert page.locator(".description").inner_text() == "<script>alert('desc')</script><svg onload=alert(3)> 0.1"
        assert "<iframe src=//evil.example>" in page.locator("dl.facts").inner_text()
        assert page.locator("main img, main script, main iframe").count() == 0
        assert page.locator("main svg").count() == page.locator("main figure.chart > svg").count()  # charts only
        page.click("nav >> text=History")
        page.click("nav >> text=Rules")
        site.clean()

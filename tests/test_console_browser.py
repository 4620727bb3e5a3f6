"""The web console in a real browser: Playwright driving Debian's Chromium against a real ``serve``.

One browser and one served installation for the module's tests: each test acts
on alerts of its own, so they pass in any order and alone.  The cases the
browser adds nothing to (every form's CSRF and scope checks,
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
from cli_runner import Cli
from conftest import BREACH_METRICS, MINUTE, ROOT, T0

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

    def sign_in(self, page, token_name: str = "admin", path: str = "/") -> None:
        """Open ``path`` without a session, which sends the browser to sign in and then back there."""
        page.goto(path)
        assert page.url.startswith(self.base + "/login?next=")
        shoot(page, "console-login")
        page.fill("#token", self.tokens[token_name])
        page.click("form.login button[type=submit]")
        page.wait_for_url(self.base + path)

    def alert_id(self, rule: str) -> str:
        return next(a["id"] for a in self.cli("list", "--json").json() if a["ruleId"] == rule)

    def show(self, alert_id: str) -> dict:
        return self.cli("show", alert_id, "--json").json()

    def active(self) -> int:
        """How many alerts the store holds active: the other tests may have acted on theirs."""
        return len(self.cli("list", "--json").json())

    def silences(self, rule: str) -> list[dict]:
        return [s for s in self.cli("silence", "list", "--json").json() if s["ruleId"] == rule]


def shoot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _token(cli, name: str, scope: str) -> str:
    result = cli("token", "add", name, "--scope", scope)
    assert result.code == 0, result.err
    return result.out.strip()


# A rule whose name, description and label are markup; it fires only when its own test reads
# `hostileErrors` (the other rules are then left as they are: their metrics are missing).
HOSTILE_RULE = """
  - id: hostile
    name: "<img src=x onerror=alert(1)>"
    type: error
    severity: critical
    when: hostileErrors > 0
    description: "<script>alert('desc')</script><svg onload=alert(3)> {{ hostileErrors }}"
    labels: {team: "<iframe src=//evil.example>"}
"""
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The shipped rules and a hostile one, five alerts firing since a second check, two tokens, one ``serve``."""
    cli = Cli(tmp_path_factory.mktemp("console"))
    cli.config.write_text((ROOT / "rules.yaml").read_text() + HOSTILE_RULE)
    first = dict(BREACH_METRICS, hostileErrors=0)
    assert cli.check(first).code == 0
    assert cli.check(dict(first, errorRate=0.0912, p95ResponseTime=2300), now=NOW).code == 0  # a history
    tokens = {"admin": _token(cli, "alice", "admin"), "wall": _token(cli, "wall", "read")}
    with ApiServer(cli, now=NOW) as server:
        yield Site(cli, server, tokens)


# What each walk acts on: the alert it acknowledges and resolves, the one it silences, and (without
# JavaScript) the one a read-only token fails to change.  No two walks share an alert.
WALKS = {
    True: ("high_error_rate", "high_response_time", None),
    False: ("database_connection_issues", "failed_login_attempts", "memory_usage_high"),
}
PAGES = {  # the alert page each walk opens from the list: its heading, description and chart
    "high_error_rate": (
        "High Error Rate",
        "critical High Error Rate",
        "Error rate is 7.34% (threshold: 5%)",
        "errorRate: 2 samples, last 0.0912",
    ),
    "database_connection_issues": (
        "Database Connection Issues",
        "critical Database Connection Issues",
        "12 database errors in the last hour (threshold: 10)",
        "databaseErrors: 2 samples, last 12",
    ),
}


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_sign_in_list_open_acknowledge_resolve_and_silence(chromium, site, js):
    """With JavaScript the walk also visits the navigation pages (and takes the screenshots); without,
    it proves every form works: sign-in, acknowledge, resolve, silence, sign-out, a read-only token."""
    rule, silenced_rule, read_only_rule = WALKS[js]
    page = site.page(chromium, js=js)
    site.sign_in(page)
    assert page.locator("#active-rows tr").count() == site.active()
    assert page.locator("text=Signed in as").inner_text().startswith("Signed in as alice")
    shoot(page, "console-active") if js else None

    target = site.alert_id(rule)
    link, heading, description, caption = PAGES[rule]
    page.click(f"#active-rows a >> text={link}")
    page.wait_for_url(f"{site.base}/alerts/{target}")
    assert page.locator("h1").inner_text() == heading
    assert page.locator(".description").inner_text() == description
    assert page.locator("figure.chart figcaption").inner_text() == caption

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

    other = site.alert_id(silenced_rule)
    page.goto(f"/alerts/{other}")
    page.select_option("#silence-for", "4h")
    page.fill("#silence-reason", "deploy")
    page.click("form[action$='/silence'] button")
    page.wait_for_url(f"{site.base}/alerts/{other}?done=silenced")
    [silence] = site.silences(silenced_rule)
    assert (silence["createdBy"], silence["reason"], silence["endsAt"]) == ("alice", "deploy", NOW + 4 * HOUR)

    if js:  # only a script can tamper with a form's hidden CSRF token; then the pages the nav links to
        a_forged_form_is_refused(site, page, other)
        page.click("nav >> text=Silences")
        assert silenced_rule in page.locator("table.silences").inner_text()
        shoot(page, "console-silences")
        page.click("nav >> text=History")
        assert page.locator("table.alerts tbody tr").count() == len(site.cli("history", "--json").json())
        shoot(page, "console-history")
        page.click("nav >> text=Statistics")
        assert page.locator("figure.chart svg rect").count() >= 14
        shoot(page, "console-stats")
    page.click("form.who button")
    page.wait_for_url(f"{site.base}/login")
    if js:
        signed_out = page.request.get("/", max_redirects=0)  # the browser's cookies, without a page
        assert (signed_out.status, signed_out.headers["location"]) == (303, "/login?next=%2F")
    else:  # the same browser, signed in again (which proves it was signed out) with a read-only token
        a_read_only_token_cannot_act(site, page, site.alert_id(read_only_rule))
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


def a_read_only_token_cannot_act(site: Site, page, target: str) -> None:
    site.sign_in(page, "wall", f"/alerts/{target}")
    assert page.locator("form.action").count() == 0
    assert "Token 'wall' can read only." in page.locator("section.actions").inner_text()
    silences = site.cli("silence", "list", "--json").json()
    csrf = page.locator("form.who input[name=csrf]").get_attribute("value")
    for action in ("acknowledge", "resolve", "silence"):
        response = page.request.post(f"/alerts/{target}/{action}", form={"csrf": csrf, "for": "1h"}, max_redirects=0)
        assert response.status == 403, action
    assert site.show(target)["status"] == "firing"
    assert site.cli("silence", "list", "--json").json() == silences


def test_auto_refresh_shows_a_new_alert_without_a_reload_and_hostile_text_as_text(chromium, site):
    page = site.page(chromium)
    page.clock.install()
    site.sign_in(page, "wall")
    rows = site.active()
    assert page.locator("#active-rows tr").count() == rows
    page.evaluate("window.stillTheSamePage = true")
    fired = site.cli.check({"hostileErrors": 1}, now=NOW + MINUTE)  # 1: the other rules' metrics are missing
    assert fired.code == 1 and fired.out.startswith("FIRED     hostile_"), fired.out
    with page.expect_response(f"{site.base}/fragments/active"):
        page.clock.run_for(15_000)
    hostile = page.locator("#active-rows a", has_text=HOSTILE_NAME)
    hostile.wait_for()
    assert page.locator("#active-rows tr").count() == rows + 1
    assert hostile.inner_text() == HOSTILE_NAME
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.locator("#refreshed").inner_text().startswith("Refreshed at")
    assert page.locator("main img, main script, main iframe").count() == 0

    hostile.click()
    assert page.locator(".description").inner_text() == "<script>alert('desc')</script><svg onload=alert(3)> 1"
    assert "<iframe src=//evil.example>" in page.locator("dl.facts").inner_text()
    assert page.locator("main img, main script, main iframe").count() == 0
    assert page.locator("main svg").count() == page.locator("main figure.chart > svg").count()  # charts only
    page.click("nav >> text=History")
    assert HOSTILE_NAME in page.locator("table.alerts").inner_text()
    assert page.locator("main img, main script, main iframe").count() == 0
    page.click("nav >> text=Rules")
    assert page.locator("table.rules tbody tr").count() == 6
    assert HOSTILE_NAME in page.locator("table.rules").inner_text()
    assert page.locator("main img, main script, main iframe").count() == 0
    site.clean()

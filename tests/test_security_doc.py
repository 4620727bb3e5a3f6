"""docs/security.md lists every outbound peer (the channel registry and the metrics sources)
and every HTTP route: a peer or a route added later cannot skip the checklist."""

from __future__ import annotations

import re

from conftest import ROOT

from pantry_alert.notify.registry import CHANNEL_NAMES

DOC = (ROOT / "docs" / "security.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def first_cells(text: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", text, re.MULTILINE)


def test_every_outbound_peer_is_listed():
    listed = first_cells(section("Outbound peers"))
    assert sorted(listed) == sorted(["metrics URL", "prometheus", *CHANNEL_NAMES])


def test_every_route_is_listed():
    from pantry_alert.http import ack, console, health, routes, slack

    served = sorted(
        f"{method} {route.path}"
        for route in routes.routes() + slack.routes() + health.routes() + console.routes() + ack.routes()
        for method in (getattr(route, "methods", None) or set()) - {"HEAD"}  # the static Mount has none
    )
    assert sorted(first_cells(section("HTTP routes"))) == served


def test_the_caddyfile_example_is_indented_with_tabs():
    api = (ROOT / "docs" / "api.md").read_text()
    block = api.split("```caddyfile\n", 1)[1].split("```", 1)[0]
    assert block == "alerts.example.com {\n\treverse_proxy 127.0.0.1:8080\n}\n"


def test_operations_names_the_slack_response_url_and_the_api_variables():
    ops = (ROOT / "docs" / "operations.md").read_text()
    assert "IPAddressDeny=any" in ops and "response_url" in ops
    assert "PANTRY_ALERT_API_TOKEN=" in ops and "SLACK_SIGNING_SECRET=" in ops

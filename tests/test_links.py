"""Runbook and dashboard links reach every channel's message."""

from __future__ import annotations

import json

from conftest import SAMPLE_ALERT, T0

from pantry_alert.notify import console, email_render, slack, webhook
from pantry_alert.notify.base import Message

RUNBOOK = "https://wiki.example.com/runbooks/errors?x=1&y=2"
DASHBOARD = "https://crm.example.com/dashboard/performance"


def message(kind="firing", runbook=RUNBOOK) -> Message:
    return Message(
        kind=kind,
        alert=dict(SAMPLE_ALERT, runbookUrl=runbook),
        idempotency_key="k1",
        now_ms=T0,
        dashboard_url=DASHBOARD,
        timezone="UTC",
    )


def test_slack_has_a_runbook_button_beside_view_dashboard():
    from slack_sdk.models.blocks import Block

    payload = slack.build_payload(message())
    actions = payload["blocks"][2]
    Block.parse(actions).validate_json()
    assert [(b["text"]["text"], b.get("url")) for b in actions["elements"]] == [
        ("View Dashboard", DASHBOARD),
        ("Runbook", RUNBOOK),
        ("Acknowledge", None),
    ]
    resolved = slack.build_payload(message("resolved"))["blocks"][2]["elements"]
    assert [b["text"]["text"] for b in resolved] == ["View Dashboard", "Runbook"]
    without = slack.build_payload(message(runbook=None))["blocks"][2]["elements"]
    assert [b["text"]["text"] for b in without] == ["View Dashboard", "Acknowledge"]


def test_email_console_and_webhook_carry_both_links():
    text = email_render.render_text(message())
    assert f"Runbook: {RUNBOOK}\nDashboard: {DASHBOARD}\n" in text
    html = email_render.render_html(message())
    assert 'href="https://wiki.example.com/runbooks/errors?x=1&amp;y=2"' in html and f'href="{DASHBOARD}"' in html
    assert console.render(message()).splitlines()[-2:] == [f"  runbook: {RUNBOOK}", f"  dashboard: {DASHBOARD}"]
    assert json.loads(webhook.encode_body(message()))["alert"]["runbookUrl"] == RUNBOOK

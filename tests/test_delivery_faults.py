"""Delivery end to end, faults: retries with backoff, refusals, a hanging channel, SMTP down, a killed run."""

from __future__ import annotations

import re
import time

import pytest
from conftest import MINUTE, T0, free_port
from delivery_world import (
    ALERT_ID,
    ALL,
    BREACH,
    DASHBOARD,
    FIRED_LINE,
    HOOK_TOKEN,
    SLACK_TOKEN,
    notifications,
    ok_hook,
    rows,
    sent,
    slack_error,
    status,
    wait_for,
)

# ---------------------------------------------------------------- 1. happy path


def test_one_check_delivers_once_on_every_channel(world):
    result = world.check()
    assert (result.code, result.out, result.err) == (0, FIRED_LINE, "")
    alert = world.cli("list", "--json").json()[0]
    assert (alert["id"], alert["severity"], alert["count"]) == (ALERT_ID, "high", 1)

    [mail] = world.mailbox.messages
    assert mail["Subject"] == "[HIGH] Kitchen Pantry CRM Alert: CPU High"
    assert (mail["From"], mail["To"], mail.rcpt_tos) == (
        "alerts@pantry.example",
        "ops@example.com",
        ["ops@example.com"],
    )
    assert mail["Message-ID"] == f"<pantry-alert.{world.keys('email')[0]}@pantry.example>"
    assert mail["X-Pantry-Alert-Event"] == "firing"
    assert "CPU at 95%" in mail.get_body(preferencelist=("plain",)).get_content()

    [post] = world.slack.received
    assert post.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert post.headers["Content-Type"].startswith("application/json")
    assert post.body == {
        "channel": "#alerts",
        "text": "Alert: CPU High",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*CPU High*\nCPU at 95%"}},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Severity: high | Time: 2025-11-26T12:00:00.000Z"}],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "View Dashboard"}, "url": DASHBOARD},
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "action_id": "acknowledge_alert",
                        "value": ALERT_ID,
                    },
                ],
            },
        ],
        "attachments": [{"color": "#fd7e14", "fallback": "CPU at 95%"}],
    }

    [hook] = world.hook.received
    assert hook.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert hook.headers["Content-Type"] == "application/json"
    assert hook.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert hook.body == {
        "alert": alert,
        "timestamp": T0,
        "service": "kitchen-pantry-crm",
        "version": "0.1.0",
        "event": "firing",
    }

    assert notifications(world.db) == [(ch, "firing") + sent() for ch in ALL]
    keys = world.keys("email") + world.keys("slack") + world.keys("webhook")
    assert len(set(keys)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


# ---------------------------------------------------------------- 2. retry with backoff


def test_webhook_500_is_retried_once_due_with_the_same_idempotency_key(world):
    world.hook.then(status(500, "database down"))
    result = world.check()
    assert (result.code, result.out) == (1, FIRED_LINE)
    error = f"webhook {world.hook.url('/hook')}: HTTP 500 INTERNAL SERVER ERROR: database down"
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
        ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE),
    ]

    # not due yet: nothing is sent
    result = world.check(now=T0 + 30_000)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert len(world.hook.received) == 1

    # due: exactly one more POST, same key; the other channels are left alone
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    first, retry = world.hook.received
    assert retry.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert (retry.body["event"], retry.body["timestamp"], retry.body["alert"]["id"]) == (
        "firing",
        T0 + MINUTE,
        ALERT_ID,
    )
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
        ("webhook", "firing") + sent(T0 + MINUTE, attempts=2),
    ]

    result = world.check(now=T0 + 5 * MINUTE)
    assert (result.code, len(world.hook.received)) == (0, 2)


def test_backoff_doubles_to_an_hour_and_gives_up_after_a_day(world):
    world.config(cooldown="2d")  # no reminders: only the one webhook notification
    world.hook.answer = status(503, "maintenance")
    error = f"webhook {world.hook.url('/hook')}: HTTP 503 SERVICE UNAVAILABLE: maintenance"
    now, schedule = T0, []
    for _ in range(8):
        result = world.check(now=now)
        assert result.code == 1 and "failed (will retry)" in result.err
        [(attempts, next_at)] = rows(
            world.db, "SELECT attempts, next_attempt_at FROM notifications WHERE channel = 'webhook'"
        )
        schedule.append(next_at - now)
        now = next_at
    assert schedule == [
        1 * MINUTE,
        2 * MINUTE,
        4 * MINUTE,
        8 * MINUTE,
        16 * MINUTE,
        32 * MINUTE,
        60 * MINUTE,
        60 * MINUTE,
    ]
    assert attempts == 8 and len(world.hook.received) == 8

    result = world.check(now=T0 + 24 * 60 * MINUTE)
    assert result.code == 1
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (gave up): {error}\n"
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 9, error, None, None)
    result = world.check(now=T0 + 47 * 60 * MINUTE)  # still inside the 2d cooldown: no reminder
    assert (result.code, len(world.hook.received)) == (0, 9)
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1


# ---------------------------------------------------------------- 3. not retryable


def test_webhook_404_is_not_retried(world):
    world.hook.answer = status(404, "no such hook")
    result = world.check()
    error = f"webhook {world.hook.url('/hook')}: HTTP 404 NOT FOUND: no such hook"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (gave up): {error}\n"
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, None)
    for now in (T0 + MINUTE, T0 + 2 * MINUTE, T0 + 9 * MINUTE):
        result = world.check(now=now)
        assert (result.code, result.err) == (0, "")
    assert len(world.hook.received) == 1
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, None)


# ---------------------------------------------------------------- 4. a hanging channel


@pytest.mark.slow
def test_hanging_webhook_does_not_hold_back_email_and_slack(world):
    world.config(sections="channels:\n  webhook:\n    timeout: 200ms\n")
    world.hook.answer = world.hook.hang
    started = time.monotonic()
    result = world.check()
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed
    error = f"webhook {world.hook.url('/hook')}: timed out after 0.2s"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (will retry): {error}\n"
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1 and len(world.hook.received) == 1
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
        ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE),
    ]


# ---------------------------------------------------------------- 5. Slack refusals


def test_slack_channel_not_found_is_not_retried(world):
    world.slack.answer = slack_error("channel_not_found")
    result = world.check()
    error = f"slack {world.slack.url('/api/')}chat.postMessage: Slack refused the message: channel_not_found"
    assert (result.code, result.out) == (1, FIRED_LINE)
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to slack failed (gave up): {error}\n"
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing", "failed", 1, error, None, None),
        ("webhook", "firing") + sent(),
    ]
    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, len(world.slack.received)) == (0, 1)


def test_slack_rate_limit_waits_for_retry_after(world):
    world.slack.then(slack_error("ratelimited", status=429, headers={"Retry-After": "120"}))
    result = world.check(now=T0)
    error = f"slack {world.slack.url('/api/')}chat.postMessage: rate limited (HTTP 429, ratelimited); retry after 120s"
    assert result.code == 1
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to slack failed (will retry): {error}\n"
    [slack_row] = [r for r in notifications(world.db) if r[0] == "slack"]
    assert slack_row == ("slack", "firing", "failed", 1, error, None, T0 + 120_000)

    result = world.check(now=T0 + MINUTE)  # the plain backoff (1 min) would retry here: Retry-After wins
    assert (result.code, len(world.slack.received)) == (0, 1)
    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, result.err, len(world.slack.received)) == (0, "", 2)
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(T0 + 2 * MINUTE, attempts=2),
        ("webhook", "firing") + sent(),
    ]


# ---------------------------------------------------------------- 6. SMTP down


def test_smtp_port_closed_fails_email_only(world):
    closed = free_port()
    result = world.check(BREACH, "--json", env={"SMTP_PORT": str(closed)})
    error = f"email smtp://127.0.0.1:{closed}: cannot connect: Connection refused"
    assert result.code == 1
    assert result.json() == {
        "fired": [ALERT_ID],
        "reminded": [],
        "escalated": [],
        "resolved": [],
        "errors": [],
        "notifications": {"sent": 2, "failed": 1, "deferred": 0, "skipped": 0},
    }
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to email failed (will retry): {error}\n"
    assert notifications(world.db) == [
        ("email", "firing", "failed", 1, error, None, T0 + MINUTE),
        ("slack", "firing") + sent(),
        ("webhook", "firing") + sent(),
    ]
    assert (len(world.slack.received), len(world.hook.received)) == (1, 1)

    result = world.check(now=T0 + MINUTE)  # the server is reachable again (the real port)
    assert (result.code, result.err) == (0, "")
    assert world.mailbox.subjects == ["[HIGH] Kitchen Pantry CRM Alert: CPU High"]
    assert notifications(world.db)[0] == ("email", "firing") + sent(T0 + MINUTE, attempts=2)
    assert (len(world.slack.received), len(world.hook.received)) == (1, 1)


# ---------------------------------------------------------------- 7. killed mid-send


@pytest.mark.slow
def test_sigkill_mid_send_leaves_the_unsent_notification_pending(world):
    # the webhook comes first: email and Slack must not wait for it (its timeout is the default 10s)
    world.config(channels=("webhook", "email", "slack"))
    world.hook.answer = world.hook.hang
    proc = world.cli.popen("check", "--metrics-file", str(world.cli.metrics(BREACH)), now=T0)  # a process to kill
    try:
        assert world.hook.arrived.wait(15), "the webhook request never arrived"
        # email and Slack finish while the webhook hangs, and their outcomes are committed at once
        wait_for(
            lambda: [r[2] for r in notifications(world.db)[1:]] == ["sent", "sent"],
            timeout=5,
            what="email and Slack recorded as sent while the webhook hangs",
        )
    finally:
        proc.kill()
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == -9
    assert out == FIRED_LINE
    assert rows(world.db, "SELECT id, status, count FROM alerts") == [(ALERT_ID, "firing", 1)]
    # handed to the webhook (the attempt counted, the mark set) before it was sent; no answer recorded
    assert notifications(world.db) == [
        ("webhook", "firing", "pending", 1, None, None, T0),
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
    ]
    assert rows(world.db, "SELECT channel, handed_at FROM notifications ORDER BY id") == [
        ("webhook", T0),
        ("email", None),
        ("slack", None),
    ]

    world.hook.answer = ok_hook
    world.hook.release.set()
    result = world.check(now=T0)
    assert (result.code, result.out, result.err) == (0, "", "")
    first, second = world.hook.received
    assert second.headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert second.body["event"] == "firing"
    assert len(world.mailbox.messages) == 1 and len(world.slack.received) == 1
    assert notifications(world.db) == [
        ("webhook", "firing") + sent(attempts=2),
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
    ]


UNKNOWN_REMINDER = (
    "outcome unknown: it may have arrived (handed to the channel, but the run was stopped or the answer came "
    "too late); not sent again: superseded by a later reminder of the same alert to this channel"
)


@pytest.mark.slow
def test_a_reminder_cut_off_mid_send_then_superseded_is_recorded_as_outcome_unknown(world):
    world.config(channels=("webhook",), cooldown="1m")
    assert world.check().code == 0  # firing, sent
    world.hook.arrived.clear()
    world.hook.answer = world.hook.hang
    metrics = str(world.cli.metrics(BREACH))
    proc = world.cli.popen("check", "--metrics-file", metrics, now=T0 + MINUTE)  # the installed script
    try:
        assert world.hook.arrived.wait(15), "the reminder never arrived"
    finally:
        proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -9
    # the receiver has the reminder; the run died before its answer was recorded
    assert [r.body["event"] for r in world.hook.received] == ["firing", "reminder"]
    assert rows(world.db, "SELECT kind, status, attempts, handed_at FROM notifications ORDER BY id") == [
        ("firing", "sent", 1, None),
        ("reminder", "pending", 1, T0 + MINUTE),
    ]

    # a later run: the escalation supersedes the waiting reminder, which may have arrived
    world.hook.answer = ok_hook
    world.hook.release.set()
    result = world.check(BREACH, "--json", now=T0 + 2 * MINUTE)
    assert (result.code, result.err) == (0, "")
    assert result.json()["notifications"] == {"sent": 1, "failed": 0, "deferred": 0, "skipped": 0, "unknown": 1}
    assert [r.body["event"] for r in world.hook.received] == ["firing", "reminder", "escalated"]
    assert notifications(world.db) == [
        ("webhook", "firing") + sent(),
        ("webhook", "reminder", "unknown", 1, UNKNOWN_REMINDER, None, None),
        ("webhook", "escalated") + sent(T0 + 2 * MINUTE),
    ]

    show = world.cli("show", ALERT_ID, now=T0 + 2 * MINUTE, env={"COLUMNS": "100"})
    assert show.code == 0
    assert re.split(r"\nNotifications *\n", show.out)[1] == (
        "                                                                                                    \n"
        " Channel   Kind        Status    Tries   Sent       Error                                           \n"
        " ────────────────────────────────────────────────────────────────────────────────────────────────── \n"
        " webhook   firing      sent          1   12:00:00                                                   \n"
        " webhook   reminder    unknown       1   -          outcome unknown: it may have arrived (handed to \n"
        "                                                    the channel, but the run was stopped or the     \n"
        "                                                    answer came too late); not sent again:          \n"
        "                                                    superseded by a later reminder of the same      \n"
        "                                                    alert to this channel                           \n"
        " webhook   escalated   sent          1   12:02:00                                                   \n"
        "                                                                                                    \n"
    )
    shown = world.cli("show", ALERT_ID, "--json", now=T0 + 2 * MINUTE).json()["notifications"][1]
    assert shown == {
        "channel": "webhook",
        "kind": "reminder",
        "status": "unknown",
        "attempts": 1,
        "error": UNKNOWN_REMINDER,
        "sentAt": None,
        "createdAt": T0 + MINUTE,
        "nextAttemptAt": None,
    }

"""Delivery end to end, guarantees: no secret leaks, resolved notices, escalation, order, coalescing."""

from __future__ import annotations

import pytest
from conftest import MINUTE, T0
from delivery_world import (
    ALERT_ID,
    ALL,
    BREACH,
    FIRED_LINE,
    HEALTHY,
    HOOK_TOKEN,
    SECRETS,
    SLACK_TOKEN,
    SMTP_PASSWORD,
    notifications,
    ok_hook,
    rows,
    sent,
    slack_error,
    status,
)
from werkzeug import Request, Response

# ---------------------------------------------------------------- 8. secrets


@pytest.mark.slow
def test_secrets_never_reach_the_database_or_the_output(world):
    world.cli.env["SMTP_USER"] = "alerts"
    world.cli.env["SMTP_PASS"] = SMTP_PASSWORD
    world.cli.env["SMTP_ALLOW_INSECURE_AUTH"] = "true"  # the test server offers no STARTTLS

    def echo(request: Request) -> Response:  # a receiver that quotes the credentials back
        return Response(f"rejected {request.headers.get('Authorization')}", status=500)

    world.hook.answer = echo
    world.slack.answer = slack_error(f"invalid_auth {SLACK_TOKEN}")
    outputs = []

    def run(*args, **kw):
        result = world.cli(*args, **kw)
        outputs.extend([result.out, result.err])
        return result

    breach = str(world.cli.metrics(BREACH))
    assert run("check", "--metrics-file", breach, now=T0).code == 1
    assert run("check", "--metrics-file", breach, "--json", now=T0 + MINUTE).code == 1  # the webhook retry
    assert run("check", "--metrics-file", breach, now=T0 + 10 * MINUTE).code == 1  # a reminder round
    assert run("rules", "list").code == 0
    assert run("rules", "list", "--json").code == 0
    assert run("rules", "validate").code == 0
    assert run("list", "--json").code == 0
    assert run("list").code == 0
    assert run("history", "--json").code == 0
    assert run("show", ALERT_ID).code == 0
    assert run("show", ALERT_ID, "--json").code == 0
    assert run("stats", "--json").code == 0
    assert run("test-notify", "email").code == 0
    assert run("test-notify", "slack").code == 1
    assert run("test-notify", "webhook").code == 1
    assert run("test-notify", "email", env={"SMTP_PASS": SMTP_PASSWORD + "-wrong"}).code == 1
    assert run("--debug", "check", "--metrics-file", breach, now=T0 + 15 * MINUTE).code == 1  # webhook retry due

    # the secrets were really used: otherwise finding none of them would prove nothing
    assert world.mailbox.messages and all(m.authenticated for m in world.mailbox.messages)
    assert {p.headers["Authorization"] for p in world.slack.received} == {f"Bearer {SLACK_TOKEN}"}
    assert {p.headers["Authorization"] for p in world.hook.received} == {f"Bearer {HOOK_TOKEN}"}
    errors = [r[0] for r in rows(world.db, "SELECT error FROM notifications WHERE error IS NOT NULL")]
    assert any("rejected Bearer ***" in e for e in errors) and any("invalid_auth ***" in e for e in errors)

    files = sorted(p for p in world.cli.tmp.iterdir() if p.name.startswith("state.db"))
    assert world.db in files
    for secret in SECRETS + (SMTP_PASSWORD + "-wrong",):
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path.name)
        for text in outputs:
            assert secret not in text, (secret, text)


# ---------------------------------------------------------------- 9. resolved notices


def test_auto_resolve_notifies_only_the_channels_that_were_notified(world):
    no_webhook = {"ALERT_WEBHOOK_URL": ""}
    result = world.check(env=no_webhook)
    assert result.code == 0
    assert "channel 'webhook' is not configured" in result.err
    # the webhook is configured by the time the alert resolves, but it was never notified
    result = world.check(HEALTHY, now=T0 + 5 * MINUTE)
    assert (result.code, result.out, result.err) == (0, f"RESOLVED  {ALERT_ID} [high] CPU High: CPU at 95%\n", "")
    assert world.mailbox.subjects == [
        "[HIGH] Kitchen Pantry CRM Alert: CPU High",
        "[RESOLVED] Kitchen Pantry CRM Alert: CPU High",
    ]
    assert [p.body["text"] for p in world.slack.received] == ["Alert: CPU High", "Resolved: CPU High"]
    assert world.hook.received == []
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("slack", "firing") + sent(),
        ("webhook", "firing", "skipped", 0, "channel 'webhook' is not configured", None, None),
        ("email", "resolved") + sent(T0 + 5 * MINUTE),
        ("slack", "resolved") + sent(T0 + 5 * MINUTE),
    ]


def test_manual_resolve_is_sent_by_the_next_check(world):
    assert world.check().code == 0
    result = world.cli("resolve", ALERT_ID, "--by", "alice", now=T0 + MINUTE)
    assert (result.code, result.out) == (0, "Alert resolved\n")
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (1, 1, 1)
    assert [r[:3] for r in notifications(world.db)[3:]] == [(ch, "resolved", "pending") for ch in ALL]

    result = world.check(HEALTHY, now=T0 + 2 * MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    assert world.mailbox.subjects[1] == "[RESOLVED] Kitchen Pantry CRM Alert: CPU High"
    assert world.slack.received[1].body["text"] == "Resolved: CPU High"
    hook = world.hook.received[1].body
    assert (hook["event"], hook["timestamp"]) == ("resolved", T0 + 2 * MINUTE)
    assert {k: hook["alert"][k] for k in ("id", "status", "resolved", "resolvedAt", "resolvedBy")} == {
        "id": ALERT_ID,
        "status": "resolved",
        "resolved": True,
        "resolvedAt": T0 + MINUTE,
        "resolvedBy": "alice",
    }
    assert notifications(world.db)[3:] == [(ch, "resolved") + sent(T0 + 2 * MINUTE) for ch in ALL]
    result = world.check(HEALTHY, now=T0 + 3 * MINUTE)
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (2, 2, 2)


# ---------------------------------------------------------------- 10. escalation


def test_escalation_adds_the_webhook(world):
    world.config(channels=("email",), cooldown="1m")
    assert world.check(now=T0).out == FIRED_LINE
    result = world.check(now=T0 + MINUTE)
    assert (result.code, result.out) == (0, f"REMINDED  {ALERT_ID} [high] CPU High: CPU at 95%\n")
    assert world.hook.received == [] and world.slack.received == []

    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, result.out, result.err) == (0, f"ESCALATED {ALERT_ID} [critical] CPU High: CPU at 95%\n", "")
    [post] = world.hook.received
    assert (post.body["event"], post.body["timestamp"]) == ("escalated", T0 + 2 * MINUTE)
    alert = post.body["alert"]
    assert (alert["id"], alert["severity"], alert["escalated"], alert["count"]) == (ALERT_ID, "critical", True, 3)
    assert post.headers["Authorization"] == f"Bearer {HOOK_TOKEN}"
    assert world.mailbox.subjects == [
        "[HIGH] Kitchen Pantry CRM Alert: CPU High",
        "[HIGH] [REMINDER] Kitchen Pantry CRM Alert: CPU High",
        "[CRITICAL] [ESCALATED] Kitchen Pantry CRM Alert: CPU High",
    ]
    assert notifications(world.db) == [
        ("email", "firing") + sent(),
        ("email", "reminder") + sent(T0 + MINUTE),
        ("email", "escalated") + sent(T0 + 2 * MINUTE),
        ("webhook", "escalated") + sent(T0 + 2 * MINUTE),
    ]
    assert world.slack.received == []


# ---------------------------------------------------------------- more faults


@pytest.mark.slow
def test_a_live_run_sending_holds_the_lock_so_nothing_is_sent_twice(world):
    world.config(sections="state:\n  lock_timeout: 200ms\n")
    world.hook.answer = world.hook.hang
    metrics = str(world.cli.metrics(BREACH))
    first = world.cli.popen("check", "--metrics-file", metrics, now=T0)  # another process, holding the run lock
    try:
        assert world.hook.arrived.wait(15), "the webhook request never arrived"
        second = world.check(now=T0)  # waits 0.2 s for the run lock, then gives up: exit 4, nothing sent
        assert (second.code, second.out) == (4, "")
        assert second.err.startswith(
            f"error: another pantry-alert run holds {world.db}.lock past the lock timeout (0.2s)\n"
        )
        world.hook.answer = ok_hook
        world.hook.release.set()
        out, err = first.communicate(timeout=15)
    finally:
        first.kill()
        first.wait()
    assert (first.returncode, out, err) == (0, FIRED_LINE, "")
    assert (len(world.mailbox.messages), len(world.slack.received), len(world.hook.received)) == (1, 1, 1)
    assert notifications(world.db) == [(ch, "firing") + sent() for ch in ALL]


def test_a_retry_for_a_channel_not_configured_in_this_run_keeps_waiting(world):
    world.hook.then(status(500, "down"))
    assert world.check().code == 1
    error = f"webhook {world.hook.url('/hook')}: HTTP 500 INTERNAL SERVER ERROR: down"
    # ALERT_WEBHOOK_URL is missing for one run: the retry is not given up, it waits
    result = world.check(now=T0 + MINUTE, env={"ALERT_WEBHOOK_URL": ""})
    assert (result.code, result.out) == (0, "")
    assert result.err == (
        "warning: 1 notification(s) for channel 'webhook' wait: the channel is not configured in this run\n"
    )
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, T0 + MINUTE)
    assert len(world.hook.received) == 1
    # the variable is back: the retry goes, with the same Idempotency-Key
    result = world.check(now=T0 + 2 * MINUTE)
    assert (result.code, result.out, result.err) == (0, "", "")
    first, retry = world.hook.received
    assert retry.headers["Idempotency-Key"] == first.headers["Idempotency-Key"] == world.keys("webhook")[0]
    assert notifications(world.db)[2] == ("webhook", "firing") + sent(T0 + 2 * MINUTE, attempts=2)


def test_a_notice_waiting_for_an_unconfigured_channel_fails_for_good_after_a_day(world):
    world.config(cooldown="2d")
    world.hook.then(status(500, "down"))
    assert world.check().code == 1
    no_webhook = {"ALERT_WEBHOOK_URL": ""}
    result = world.check(now=T0 + 23 * 60 * MINUTE, env=no_webhook)
    assert (result.code, notifications(world.db)[2][2]) == (0, "failed")
    result = world.check(now=T0 + 24 * 60 * MINUTE, env=no_webhook)
    error = "channel 'webhook' was not configured until the notification expired"
    assert result.code == 1
    assert result.err == f"warning: alert {ALERT_ID}: firing notification to webhook failed (gave up): {error}\n"
    assert notifications(world.db)[2] == ("webhook", "firing", "failed", 1, error, None, None)
    result = world.check(now=T0 + 25 * 60 * MINUTE)
    assert (result.code, result.err, len(world.hook.received)) == (0, "", 1)


def test_a_resolved_notice_waits_behind_the_failed_firing_and_both_arrive_in_order(world):
    world.hook.then(status(500, "down"))
    assert world.check().code == 1
    # the alert resolves before the webhook's retry is due: email and Slack get it at once,
    # the webhook's resolved notice waits behind its firing notice
    result = world.check(HEALTHY, now=T0 + 30_000)
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing"]
    assert notifications(world.db)[5] == ("webhook", "resolved", "pending", 0, None, None, T0 + 30_000)
    # the retry is due: firing first, then resolved, nothing dropped
    result = world.check(HEALTHY, now=T0 + MINUTE)
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing", "resolved"]
    assert notifications(world.db)[2:] == [
        ("webhook", "firing") + sent(T0 + MINUTE, attempts=2),
        ("email", "resolved") + sent(T0 + 30_000),
        ("slack", "resolved") + sent(T0 + 30_000),
        ("webhook", "resolved") + sent(T0 + MINUTE),
    ]


def test_when_the_retry_fails_again_the_notices_behind_it_keep_waiting(world):
    world.hook.then(status(500, "down"), status(503, "still down"))
    assert world.check().code == 1
    result = world.check(HEALTHY, now=T0 + 2 * MINUTE)  # the retry is due and the alert resolves
    assert result.code == 1 and "firing notification to webhook failed (will retry)" in result.err
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing"]  # resolved not sent out of order
    assert [r[:4] for r in notifications(world.db) if r[0] == "webhook"] == [
        ("webhook", "firing", "failed", 2),
        ("webhook", "resolved", "pending", 0),
    ]
    result = world.check(HEALTHY, now=T0 + 4 * MINUTE)  # next retry (2 min backoff) succeeds
    assert (result.code, result.err) == (0, "")
    assert [p.body["event"] for p in world.hook.received] == ["firing", "firing", "firing", "resolved"]


def test_waiting_reminders_are_coalesced_to_the_newest(world):
    world.config(channels=("webhook",), cooldown="1m")
    world.hook.then(status(500, "down"), status(500, "down"))
    assert world.check().code == 1  # firing fails, retry at +1m
    assert world.check(now=T0 + MINUTE).code == 1  # retry fails again (retry at +3m); reminder 1 waits
    assert world.check(now=T0 + 2 * MINUTE).code == 0  # not due: reminder 2 recorded, waits too
    result = world.check(now=T0 + 3 * MINUTE)  # due: firing, then only the newest reminder
    assert result.code == 0, result.err
    # (the +2m round escalated: high, 2 rounds at high) -- an escalation is never coalesced away
    assert [r.body["event"] for r in world.hook.received] == ["firing", "firing", "firing", "escalated", "reminder"]
    assert world.hook.received[-1].body["alert"]["count"] == 4
    assert [r[1:3] + (r[4],) for r in notifications(world.db)] == [
        ("firing", "sent", None),
        ("reminder", "skipped", "superseded by a later reminder of the same alert to this channel"),
        ("escalated", "sent", None),
        ("reminder", "sent", None),
    ]


def test_a_retry_and_a_reminder_due_in_one_run_arrive_in_order(world):
    world.config(channels=("webhook",), cooldown="1m")
    world.hook.then(status(500, "busy"))
    assert world.check().code == 1
    # one minute later the firing retry is due and so is the first reminder: same alert, same channel
    result = world.check(now=T0 + MINUTE)
    assert result.code == 0, result.err
    assert [r.body["event"] for r in world.hook.received] == ["firing", "firing", "reminder"]
    assert [r[:3] for r in notifications(world.db)] == [("webhook", "firing", "sent"), ("webhook", "reminder", "sent")]

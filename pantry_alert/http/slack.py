"""Slack's interactive ``Acknowledge`` button: ``POST /slack/actions``.

Slack posts ``application/x-www-form-urlencoded`` with one ``payload`` field
(JSON), signed with the app's signing secret.  The signature is checked over
the raw body before anything is parsed (slack-sdk's ``SignatureVerifier``:
HMAC-SHA256, a 5-minute window against the real clock, constant-time
compare); an unsigned, stale or forged request gets 401 and changes nothing.

On a ``block_actions`` payload whose action is ``acknowledge_alert`` the
alert (the button's ``value``) is acknowledged as ``slack:<username>``, Slack
gets its 200 at once (it wants one within 3 seconds), and afterwards the
original message is replaced through the payload's ``response_url``: the same
content without the ``Acknowledge`` button, plus a line saying who
acknowledged it and when (or that it was already acknowledged or resolved).
The server posts only to a ``response_url`` on ``hooks.slack.com`` (or on the
host of ``SLACK_API_URL`` when set, as in tests), so a request cannot make it
call anywhere else.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.background import BackgroundTask
from starlette.responses import Response

from .. import actions
from ..audit import Actor
from ..errors import ConflictError, NotFoundError, PantryAlertError, StateLocked
from ..timeutil import format_time
from .common import HttpError, actor_of, fail, parse_json, read_body
from .writes import run_write

log = logging.getLogger("pantry_alert.http")

ACTION_ID = "acknowledge_alert"
SLACK_HOOKS_HOST = "hooks.slack.com"
QUICK_LOCK_MS = 2000  # how long the request itself waits for the state lock; longer waits go to the background
REPLACE_TIMEOUT = 10  # seconds for the POST to response_url
_KIND_OF_TEXT = (("Reminder:", "reminder"), ("Escalated:", "escalated"))


@dataclass
class Outcome:
    """What pressing the button did: ``acknowledged``, ``already``, ``resolved``, ``missing`` or ``busy``."""

    what: str
    alert: Any = None  # the Alert, when known
    user: str = ""
    at: int = 0


async def slack_actions(request):
    ctx = request.app.state.ctx
    body = await read_body(request)
    secret = (ctx.env.get("SLACK_SIGNING_SECRET") or "").strip()
    if not secret:
        return fail(401, "Slack requests are refused: SLACK_SIGNING_SECRET is not set on the server")
    if not _signed(secret, body, request.headers):
        return fail(401, "invalid, missing or expired Slack signature")
    payload = _payload(body)
    action = _acknowledge_action(payload)
    if action is None:
        return Response(status_code=200)  # another button (View Dashboard) or event: nothing to do
    alert_id = str(action.get("value") or "")
    user = _user(payload)
    ws = ctx.workspace()
    actor = actor_of(request, f"slack:{user}")
    outcome = await run_write(_acknowledge, ws, alert_id, actor, QUICK_LOCK_MS)
    task = BackgroundTask(_finish, ws, ctx.env, payload, alert_id, actor, outcome)
    return Response(status_code=200, background=task)


def routes() -> list:
    from starlette.routing import Route

    return [Route("/slack/actions", slack_actions, methods=["POST"])]


# ------------------------------------------------------------ the request


def _signed(secret: str, body: bytes, headers) -> bool:
    from slack_sdk.signature import SignatureVerifier

    try:
        return SignatureVerifier(secret).is_valid_request(body, dict(headers))
    except (ValueError, TypeError):  # a timestamp header that is not a number
        return False


def _payload(body: bytes) -> dict[str, Any]:
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
        raw = fields["payload"][0]
    except (UnicodeDecodeError, KeyError, IndexError, ValueError):
        raise HttpError(400, "expected a form field 'payload' holding Slack's JSON") from None
    payload = parse_json(raw, "Slack payload")
    if not isinstance(payload, dict):
        raise HttpError(400, "Slack's payload must be a JSON object")
    return payload


def _acknowledge_action(payload: dict[str, Any]) -> dict[str, Any] | None:
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict) and action.get("action_id") == ACTION_ID:
            return action
    return None


def _user(payload: dict[str, Any]) -> str:
    user = payload.get("user")
    if not isinstance(user, dict):
        user = {}
    name = user.get("username") or user.get("name") or user.get("id") or "unknown"
    return re.sub(r"[\x00-\x1f\x7f]", "", str(name))[:100] or "unknown"


def _acknowledge(ws, alert_id: str, actor: Actor, lock_ms: int | None) -> Outcome:
    """Acknowledge; a lock wait beyond ``lock_ms`` gives ``busy`` (the background then waits longer)."""
    now = ws.now()
    try:
        alert = actions.acknowledge(ws, alert_id, by=actor.name, now=now, lock_timeout_ms=lock_ms, actor=actor)
        return Outcome("acknowledged", alert, actor.name.removeprefix("slack:"), now)
    except StateLocked:
        if lock_ms is None:
            raise
        return Outcome("busy")
    except NotFoundError:
        return Outcome("missing")
    except ConflictError:
        with ws.store() as store:
            alert = store.get_alert(alert_id)
        return Outcome("resolved" if alert is not None and alert.resolved else "already", alert)


# --------------------------------------------------------- after the 200


def _finish(ws, env, payload: dict[str, Any], alert_id: str, actor: Actor, outcome: Outcome) -> None:
    """Runs after the response: finish a deferred acknowledgement, then replace the message."""
    try:
        if outcome.what == "busy":
            outcome = _acknowledge(ws, alert_id, actor, None)
        url = payload.get("response_url")
        if not isinstance(url, str) or not url:
            return
        if not allowed_response_url(url, env, ws.config()):
            log.warning("not posting to response_url on %s: only %s is allowed", _host(url), _allowed_hosts(env, ws))
            return
        _post(url, replacement(ws.config(), payload, alert_id, outcome))
    except PantryAlertError as exc:
        log.warning("Slack acknowledgement of %s: %s", alert_id, exc.message)
    except Exception:  # a background task has no one to answer: log it, never crash the server
        log.exception("Slack acknowledgement of %s failed", alert_id)


def replacement(config, payload: dict[str, Any], alert_id: str, outcome: Outcome) -> dict[str, Any]:
    """The message that replaces the original: its content, no Acknowledge button, and what happened."""
    from ..notify import slack_render as slack
    from ..notify.messages import make_message

    tz = config.timezone
    alert = outcome.alert
    if alert is None:
        return {
            "replace_original": False,
            "response_type": "ephemeral",
            "text": f"Alert {slack.escape(alert_id)} was not found (it may have been pruned); nothing was acknowledged",
        }
    if outcome.what == "acknowledged":
        note = f"Acknowledged by {outcome.user} at {format_time(outcome.at, tz)}"
    elif outcome.what == "resolved":
        note = f"Already resolved by {alert.resolved_by or '?'} at {format_time(alert.resolved_at, tz)}"
    else:
        note = f"Already acknowledged by {alert.acknowledged_by or '?'} at {format_time(alert.acknowledged_at, tz)}"
    message = make_message(config, alert.to_json(), _original_kind(payload), "", outcome.at)
    built = slack.build_payload(message)
    blocks = []
    for block in built["blocks"]:
        if block.get("type") == "actions":
            elements = [e for e in block["elements"] if e.get("action_id") != ACTION_ID]
            if not elements:
                continue
            block = {**block, "elements": elements}
        blocks.append(block)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": slack.escape(note)}]})
    return {
        "replace_original": True,
        "text": built["text"],
        "blocks": blocks,
        "attachments": built["attachments"],
    }


def _original_kind(payload: dict[str, Any]) -> str:
    """Whether the pressed message was the first notice, a reminder or an escalation (by its text)."""
    message = payload.get("message")
    if not isinstance(message, dict):
        message = {}
    text = str(message.get("text") or "")
    for prefix, kind in _KIND_OF_TEXT:
        if text.startswith(prefix):
            return kind
    return "firing"


def allowed_response_url(url: str, env, config) -> bool:
    """Only Slack's hooks host over https, or the host of ``SLACK_API_URL`` (the Slack API the
    server is configured for, e.g. a local one in tests)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme == "https" and parts.hostname == SLACK_HOOKS_HOST and port in (None, 443):
        return True
    for api_url in _api_urls(env, config):
        try:
            api = urlsplit(api_url)
            if (parts.scheme, parts.hostname, port) == (api.scheme, api.hostname, api.port) and api.hostname:
                return True
        except ValueError:
            continue
    return False


def _api_urls(env, config) -> list[str]:
    section = config.channels.get("slack") or {}
    urls = [section.get("api_url"), env.get("SLACK_API_URL")]
    return [u.strip() for u in urls if isinstance(u, str) and u.strip()]


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _allowed_hosts(env, ws) -> str:
    return ", ".join([SLACK_HOOKS_HOST] + [_host(u) for u in _api_urls(env, ws.config())])


def _post(url: str, message: dict[str, Any]) -> None:
    """Replace the original Slack message through ``response_url`` (the hardened ``fetch``:
    a total deadline, a bounded answer, no redirects)."""
    from ..fetch import FetchError, fetch, host_of

    try:
        reply = fetch("POST", url, timeout_s=REPLACE_TIMEOUT, json=message, secrets=[url], accept_encoding=False)
    except FetchError as exc:
        log.warning("Slack response_url %s: %s", host_of(url), exc)
        return
    if not reply.ok:
        log.warning("Slack refused the replacement message: HTTP %s", reply.status)

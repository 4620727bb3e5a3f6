"""The ``/api/`` routes: the same data and actions as the ``--json`` commands, in an envelope.

Reads are plain ``def`` endpoints (Starlette runs them in its thread pool,
so SQLite never blocks the event loop).  Writes read their body on the
event loop (bounded, see ``common.read_body``) and then run the library call
in the thread pool; each takes the run lock only for the moment it writes.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from .. import actions, views
from ..config import SEVERITIES, TYPES
from .common import HttpError, actor_of, choice_param, duration_field, int_param, ok, read_json, text_field
from .writes import run_write

DAY = 86_400_000
MAX_HISTORY = 10_000  # alerts per history page: bounds the memory of one response
MAX_AUDIT = 10_000  # audit entries per answer
DEFAULT_AUDIT_SINCE = 30 * DAY
DEFAULT_BY = "api"


def _ctx(request):
    return request.app.state.ctx


# ------------------------------------------------------------------ reads


async def active_alerts(request):
    """``list --json``: active alerts, newest first; query ``severity``, ``type``, ``rule``.

    The hot route of dashboards: while the database has not changed, the cached answer's bytes
    are served from the event loop (no thread hop); a miss computes it in the thread pool."""
    q = request.query_params
    severity = choice_param(q.get("severity"), SEVERITIES, "severity")
    type_ = choice_param(q.get("type"), TYPES, "type")
    rule = q.get("rule") or None
    ctx = _ctx(request)
    key = ("active", severity, type_, rule)

    def compute(ws) -> bytes:
        with ws.store() as store:
            alerts = store.list_alerts(active=True, severity=severity, type=type_, rule=rule)
        return ok(views.alerts_json(alerts)).body

    body = ctx.hit(key)
    if body is None:
        body = await run_in_threadpool(ctx.cached, key, compute)
    return Response(body, media_type="application/json")


def alert_history(request):
    """``history --json``: all alerts, newest first; query ``limit`` (default 100), ``since`` (a duration)."""
    q = request.query_params
    limit = int_param(q.get("limit"), "limit", default=100, low=1, high=MAX_HISTORY)
    since = duration_field(q.get("since"), "since")
    ws = _ctx(request).workspace()
    cutoff = None if since is None else ws.now() - since
    with ws.store() as store:
        alerts = store.list_alerts(active=False, since=cutoff, limit=limit)
    return ok(views.alerts_json(alerts))


def alert_stats(request):
    """``stats --json``; query ``timeWindow`` in milliseconds (or a duration such as 7d), default 24 h."""
    from ..store import reports

    window = duration_field(request.query_params.get("timeWindow") or None, "timeWindow", bare_unit="ms")
    ws = _ctx(request).workspace()
    now = ws.now()
    with ws.store() as store:
        data = reports.stats(store, now=now, window=DAY if window is None else window)
    return ok(data)


def alert_show(request):
    """``show --json``: one alert with its events and notifications; 404 when unknown."""
    alert_id = request.path_params["alert_id"]
    with _ctx(request).workspace().store() as store:
        detail = views.alert_detail(store, alert_id)
    return ok(detail.to_json())


def rules_list(request):
    """``rules list --json``."""
    return ok(views.rules_json(_ctx(request).workspace().config()))


# ----------------------------------------------------------------- writes


async def alert_resolve(request):
    """Resolve by hand: ``Alert resolved``, or 404 ``Alert not found or already resolved``."""
    alert_id = request.path_params["alert_id"]
    body = await read_json(request, allowed={"by", "note"})
    by, note = text_field(body, "by") or DEFAULT_BY, text_field(body, "note")
    ws = _ctx(request).workspace()
    await run_write(actions.resolve, ws, alert_id, by=by, note=note, actor=actor_of(request))
    return ok(message="Alert resolved")


async def alert_acknowledge(request):
    """As ``ack``: no more reminders or escalation (for a while, with ``for``); 409 when already so."""
    alert_id = request.path_params["alert_id"]
    body = await read_json(request, allowed={"by", "note", "for"})
    by, note = text_field(body, "by") or DEFAULT_BY, text_field(body, "note")
    for_ms = duration_field(body.get("for"), "for", positive=True)
    ws = _ctx(request).workspace()
    alert = await run_write(actions.acknowledge, ws, alert_id, by=by, note=note, for_ms=for_ms, actor=actor_of(request))
    return ok(alert.to_json(), message="Alert acknowledged")


async def alert_note(request):
    """As ``note``: body ``{"text": ...}`` (optional ``by``); 404 for an unknown alert."""
    alert_id = request.path_params["alert_id"]
    body = await read_json(request, allowed={"text", "by"}, required=True)
    text = text_field(body, "text", max_length=actions.MAX_NOTE)
    if text is None or not text.strip():
        raise HttpError(400, "'text' (the note) is required")
    by = text_field(body, "by")
    ws = _ctx(request).workspace()
    await run_write(actions.add_note, ws, alert_id, text, by=by, actor=actor_of(request))
    return ok(message="Note added", status=201)


def audit_log(request):
    """As ``audit --json``; query ``since`` (default 30d), ``actor``, ``limit`` (default 1000)."""
    from ..audit import entries

    q = request.query_params
    since = duration_field(q.get("since") or None, "since")
    limit = int_param(q.get("limit"), "limit", default=1000, low=1, high=MAX_AUDIT)
    ws = _ctx(request).workspace()
    cutoff = ws.now() - (DEFAULT_AUDIT_SINCE if since is None else since)
    found = entries(ws, since=cutoff, actor=q.get("actor") or None, limit=limit)
    return ok([entry.to_json() for entry in found])


async def _rule_body(request) -> dict[str, Any]:
    body = await read_json(request, allowed={"rule"}, required=True)
    rule = body.get("rule")
    if not isinstance(rule, dict):
        raise HttpError(400, 'the body must be {"rule": {...}} with the rule\'s rules.yaml keys')
    return rule


async def rule_create(request):
    """As ``rules add``: ``Alert rule created``, or 400 with the reason (rules.yaml unchanged)."""
    from ..rules_edit import add_rule

    rule = await _rule_body(request)
    created = await run_write(add_rule, _ctx(request).workspace(), rule, actor=actor_of(request))
    return ok(created.to_json(), message="Alert rule created")


async def rule_update(request):
    """As ``rules update``: ``Alert rule updated``, 400 with the reason, or 404 for an unknown rule."""
    from ..rules_edit import update_rule

    rule_id = request.path_params["rule_id"]
    rule = await _rule_body(request)
    updated = await run_write(update_rule, _ctx(request).workspace(), rule_id, rule, actor=actor_of(request))
    return ok(updated.to_json(), message="Alert rule updated")


# --------------------------------------------------------------- silences


def silences_list(request):
    """As ``silence list --json``."""
    from ..actions import list_silences

    limit = int_param(request.query_params.get("limit"), "limit", default=100, low=1, high=MAX_HISTORY)
    return ok(list_silences(_ctx(request).workspace(), limit=limit))


async def silence_create(request):
    """As ``silence add``: body ``{"rule", "for", "start", "reason", "by"}`` (``start``: ISO 8601 with
    an offset, for a silence that starts later); 404 for an unknown rule."""
    from ..actions import add_silence
    from ..timeutil import iso_instant

    body = await read_json(request, allowed={"rule", "for", "start", "reason", "by"}, required=True)
    rule = body.get("rule")
    if not isinstance(rule, str) or not rule:
        raise HttpError(400, "'rule' (the id of the rule to silence) is required")
    for_ms = duration_field(body.get("for"), "for", positive=True)
    if for_ms is None:
        raise HttpError(400, "'for' (how long, e.g. 2h) is required")
    reason, by = text_field(body, "reason"), text_field(body, "by") or DEFAULT_BY
    start = text_field(body, "start", max_length=64)
    starts_at = iso_instant(start, "'start'") if start else None
    actor = actor_of(request)
    silence = await run_write(
        lambda: add_silence(
            _ctx(request).workspace(), rule, for_ms=for_ms, reason=reason, by=by, starts_at=starts_at, actor=actor
        )
    )
    return ok(silence, message="Silence created")


async def silence_expire(request):
    """As ``silence expire``: an optional body ``{"by"}``; 404 for an unknown silence, 409 when it has
    already ended."""
    from ..actions import expire_silence

    body = await read_json(request, allowed={"by"})
    by = text_field(body, "by") or DEFAULT_BY
    silence_id = request.path_params["silence_id"]
    actor = actor_of(request)
    silence = await run_write(lambda: expire_silence(_ctx(request).workspace(), silence_id, by=by, actor=actor))
    return ok(silence, message="Silence expired")


def routes() -> list:
    from starlette.routing import Route

    from .history import metric_history

    return [
        Route("/api/alerts", active_alerts, methods=["GET"]),
        Route("/api/alerts/history", alert_history, methods=["GET"]),
        Route("/api/alerts/stats", alert_stats, methods=["GET"]),
        Route("/api/alerts/rules", rule_create, methods=["POST"]),
        Route("/api/alerts/rules/{rule_id}", rule_update, methods=["PUT"]),
        Route("/api/alerts/{alert_id}", alert_show, methods=["GET"]),
        Route("/api/alerts/{alert_id}/resolve", alert_resolve, methods=["POST"]),
        Route("/api/alerts/{alert_id}/acknowledge", alert_acknowledge, methods=["POST"]),
        Route("/api/alerts/{alert_id}/notes", alert_note, methods=["POST"]),
        Route("/api/audit", audit_log, methods=["GET"]),
        Route("/api/rules", rules_list, methods=["GET"]),
        Route("/api/metrics/history", metric_history, methods=["GET"]),
        Route("/api/silences", silences_list, methods=["GET"]),
        Route("/api/silences", silence_create, methods=["POST"]),
        Route("/api/silences/{silence_id}", silence_expire, methods=["DELETE"]),
    ]

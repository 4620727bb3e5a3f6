"""``/ack/<alert id>``: the signed acknowledge link (``pantry_alert.links``).

``GET`` shows a small page (the alert's title, severity, description and a
confirm button with an optional name and note) and changes nothing, because
mail scanners follow links.  Only the ``POST`` from that page acknowledges,
by ``link`` or the name given.  A link whose signature does not sign that
alert and that expiry, a link without one, or an expired link is 403 and
changes nothing; links that are not enabled (no ``api.public_url`` or link
secret) are 404.

No bearer token: the signature is the credential, so the page is only as
shared as the link.  The page is the web console's layout (its own stylesheet
and script from this server, nothing inline), is served with
``Content-Security-Policy: default-src 'self'``, is never framed or cached,
and sends no Referer (the link carries its signature).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from .. import actions, links
from ..errors import ConflictError, NotFoundError
from .common import actor_of, read_body

MAX_NAME, MAX_NOTE = 100, 500
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(request, status: int, heading: str, *, alert=None, said: str | None = None, form: dict | None = None):
    """The page, in the web console's layout (``console/templates/ack.html``), every value escaped."""
    from .console.render import html

    response = html(
        request, "ack.html", status=status, heading=heading, alert=alert, said=said, form=bool(form), **(form or {})
    )
    response.headers.update(HEADERS)
    return response


def _checked(request) -> tuple[str, Any, str | None] | HTMLResponse:
    """(alert id, workspace, link secret), or the page saying links are off."""
    ctx = request.app.state.ctx
    ws = ctx.workspace()
    settings = ws.config().api.links
    alert_id = request.path_params["alert_id"]
    if not settings.enabled:
        return page(request, 404, "Acknowledge links are not enabled")
    return alert_id, ws, settings.secret


def _refused(request):
    return page(
        request, 403, "This link is not valid", said="The link is changed, incomplete or expired. Nothing was done."
    )


def _alert_json(ws, alert_id: str):
    with ws.store() as store:
        alert = store.get_alert(alert_id)
    return alert.to_json() if alert else None


async def show(request):
    """GET: the confirm page; nothing changes."""
    checked = _checked(request)
    if isinstance(checked, HTMLResponse):
        return checked
    alert_id, ws, secret = checked
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    if not links.verify(secret, alert_id, exp, sig, ws.now()):
        return _refused(request)
    alert = await run_in_threadpool(_alert_json, ws, alert_id)
    if alert is None:
        return page(request, 404, "Alert not found", said="It may have been pruned from the history.")
    if alert["status"] != "firing":
        said = f"Already {alert['status']}" + (f" by {alert['acknowledgedBy']}" if alert.get("acknowledgedBy") else "")
        return page(request, 200, "Nothing to acknowledge", alert=alert, said=said + ".")
    action = f"/ack/{quote(alert_id, safe='')}"
    return page(request, 200, "Acknowledge this alert?", alert=alert, form={"action": action, "exp": exp, "sig": sig})


async def confirm(request):
    """POST from the page: acknowledge by ``link`` (or the name given)."""
    checked = _checked(request)
    if isinstance(checked, HTMLResponse):
        return checked
    alert_id, ws, secret = checked
    raw = await read_body(request)
    try:
        fields = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=8, strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        return page(request, 400, "The form could not be read")
    if not links.verify(secret, alert_id, fields.get("exp"), fields.get("sig"), ws.now()):
        return _refused(request)
    name = " ".join((fields.get("name") or "").split())[:MAX_NAME] or "link"
    note = " ".join((fields.get("note") or "").split())[:MAX_NOTE] or None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name + (note or "")):
        return page(request, 400, "The form could not be read")
    try:
        actor = actor_of(request, "link")  # audited as the link, from the client's address
        alert = await run_in_threadpool(actions.acknowledge, ws, alert_id, by=name, note=note, actor=actor)
    except NotFoundError:
        return page(request, 404, "Alert not found", said="It may have been pruned from the history.")
    except ConflictError as exc:
        return page(request, 409, "Nothing to acknowledge", said=exc.message)
    return page(
        request,
        200,
        "Acknowledged",
        alert=alert.to_json(),
        said=f"Acknowledged by {name}. Reminders and escalation stop.",
    )


def routes() -> list:
    from starlette.routing import Route

    return [
        Route("/ack/{alert_id}", show, methods=["GET"]),
        Route("/ack/{alert_id}", confirm, methods=["POST"]),
    ]

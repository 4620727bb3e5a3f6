"""``/ack/<alert id>``: the signed acknowledge link (``pantry_alert.links``).

``GET`` shows a small page (the alert's title, severity, description and a
confirm button with an optional name and note) and changes nothing, because
mail scanners follow links.  Only the ``POST`` from that page acknowledges,
by ``link`` or the name given.  A link whose signature does not sign that
alert and that expiry, a link without one, or an expired link is 403 and
changes nothing; links that are not enabled (no ``api.public_url`` or link
secret) are 404.

No bearer token: the signature is the credential, so the page is only as
shared as the link.  The page loads nothing (no script, no style, no image),
is served with ``Content-Security-Policy: default-src 'self'``, is never
framed or cached, and sends no Referer (the link carries its signature).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from .. import actions, links
from ..errors import ConflictError, NotFoundError
from .common import read_body

TEMPLATES = Path(__file__).with_name("templates")
MAX_NAME, MAX_NOTE = 100, 500
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_template = None


def page(status: int, heading: str, *, alert=None, said: str | None = None, form: dict | None = None):
    """The page, rendered with every value escaped (Jinja autoescape)."""
    global _template
    if _template is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
        _template = env.get_template("ack.html")
    body = _template.render(heading=heading, alert=alert, said=said, form=bool(form), **(form or {}))
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _checked(request) -> tuple[str, Any, str | None] | HTMLResponse:
    """(alert id, workspace, link secret), or the page saying links are off."""
    ctx = request.app.state.ctx
    ws = ctx.workspace()
    settings = ws.config().api.links
    alert_id = request.path_params["alert_id"]
    if not settings.enabled:
        return page(404, "Acknowledge links are not enabled")
    return alert_id, ws, settings.secret


def _refused():
    return page(403, "This link is not valid", said="The link is changed, incomplete or expired. Nothing was done.")


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
        return _refused()
    alert = await run_in_threadpool(_alert_json, ws, alert_id)
    if alert is None:
        return page(404, "Alert not found", said="It may have been pruned from the history.")
    if alert["status"] != "firing":
        said = f"Already {alert['status']}" + (f" by {alert['acknowledgedBy']}" if alert.get("acknowledgedBy") else "")
        return page(200, "Nothing to acknowledge", alert=alert, said=said + ".")
    action = f"/ack/{quote(alert_id, safe='')}"
    return page(200, "Acknowledge this alert?", alert=alert, form={"action": action, "exp": exp, "sig": sig})


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
        return page(400, "The form could not be read")
    if not links.verify(secret, alert_id, fields.get("exp"), fields.get("sig"), ws.now()):
        return _refused()
    name = " ".join((fields.get("name") or "").split())[:MAX_NAME] or "link"
    note = " ".join((fields.get("note") or "").split())[:MAX_NOTE] or None
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name + (note or "")):
        return page(400, "The form could not be read")
    try:
        alert = await run_in_threadpool(actions.acknowledge, ws, alert_id, by=name, note=note)
    except NotFoundError:
        return page(404, "Alert not found", said="It may have been pruned from the history.")
    except ConflictError as exc:
        return page(409, "Nothing to acknowledge", said=exc.message)
    return page(
        200, "Acknowledged", alert=alert.to_json(), said=f"Acknowledged by {name}. Reminders and escalation stop."
    )


def routes() -> list:
    from starlette.routing import Route

    return [
        Route("/ack/{alert_id}", show, methods=["GET"]),
        Route("/ack/{alert_id}", confirm, methods=["POST"]),
    ]

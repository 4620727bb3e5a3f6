"""The console's actions: acknowledge, resolve, silence a rule, add a note, create and expire silences.

Each calls the same library function as the command line and the API
(``pantry_alert.actions``), acting as the signed-in token (its name is the
``by``, and the audit log's actor with the client's address), and answers
with a redirect back to the page (POST, redirect, GET).
"""

from __future__ import annotations

from urllib.parse import quote

from ... import actions
from ..common import HttpError, actor_of, duration_field
from .session import action

MAX_TEXT = 1000  # characters of a note or a reason


def _back(path: str, done: str):
    from starlette.responses import RedirectResponse

    return RedirectResponse(f"{path}?done={done}", status_code=303)


def _ws(request):
    return request.app.state.ctx.workspace()


def _actor(request, session):
    """The audit log's actor: the signed-in token, from the client's address."""
    return actor_of(request, session.principal.name)


def _alert_path(request) -> str:
    return "/alerts/" + quote(request.path_params["alert_id"], safe="")


def _text(form: dict[str, str], key: str, *, required: bool = False) -> str | None:
    value = form.get(key, "").strip()
    if len(value) > MAX_TEXT:
        raise HttpError(400, f"the {key} is longer than {MAX_TEXT} characters")
    if required and not value:
        raise HttpError(400, f"the {key} is empty")
    return value or None


def _duration(form: dict[str, str], key: str, *, required: bool = False) -> int | None:
    ms = duration_field(form.get(key, "").strip() or None, key, positive=True)
    if ms is None and required:
        raise HttpError(400, f"give how long ({key}), e.g. 2h")
    return ms


@action("ack")
def acknowledge(request, session, form):
    actions.acknowledge(
        _ws(request),
        request.path_params["alert_id"],
        by=session.principal.name,
        note=_text(form, "note"),
        for_ms=_duration(form, "for"),
        actor=_actor(request, session),
    )
    return _back(_alert_path(request), "acknowledged")


@action("ack")
def resolve(request, session, form):
    actions.resolve(
        _ws(request),
        request.path_params["alert_id"],
        by=session.principal.name,
        note=_text(form, "note"),
        actor=_actor(request, session),
    )
    return _back(_alert_path(request), "resolved")


@action("silence")
def silence_rule(request, session, form):
    from ... import views

    ws = _ws(request)
    with ws.store() as store:
        alert = views.alert_detail(store, request.path_params["alert_id"]).alert
    actions.add_silence(
        ws,
        alert.rule_id,
        for_ms=_duration(form, "for", required=True) or 0,
        reason=_text(form, "reason"),
        by=session.principal.name,
        actor=_actor(request, session),
    )
    return _back(_alert_path(request), "silenced")


@action("ack")
def add_note(request, session, form):
    text = _text(form, "text", required=True) or ""  # required: never empty here
    actions.add_note(
        _ws(request), request.path_params["alert_id"], text, by=session.principal.name, actor=_actor(request, session)
    )
    return _back(_alert_path(request), "noted")


@action("silence")
def create_silence(request, session, form):
    rule = form.get("rule", "").strip()
    if not rule:
        raise HttpError(400, "choose the rule to silence")
    actions.add_silence(
        _ws(request),
        rule,
        for_ms=_duration(form, "for", required=True) or 0,
        reason=_text(form, "reason"),
        by=session.principal.name,
        actor=_actor(request, session),
    )
    return _back("/silences", "silence-created")


@action("silence")
def expire_silence(request, session, form):
    actions.expire_silence(
        _ws(request), request.path_params["silence_id"], by=session.principal.name, actor=_actor(request, session)
    )
    return _back("/silences", "silence-expired")

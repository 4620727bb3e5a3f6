"""Sign-in with a token, the session cookie, CSRF tokens and scopes, for every console page and form.

A token signs in at ``/login`` and gets a session cookie (HttpOnly,
SameSite=Strict, Secure over HTTPS or when ``api.public_url`` is https) that
ends after ``api.session_ttl``, at sign-out, or when its token is revoked or
expires.  Every form that changes something carries the session's CSRF
token; the sign-in form carries one of its own, matched with a cookie.
Handlers are wrapped by ``view`` (pages) and ``action`` (forms), which turn
refusals and library errors into HTML pages with the right status.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from urllib.parse import parse_qsl, quote

from ...errors import PantryAlertError
from ...tokens import NO_AUTH, Principal, Session, end_session, start_session
from ..common import HttpError, read_body, status_of
from ..writes import run_write
from .render import html

SESSION_COOKIE = "pantry_session"
LOGIN_COOKIE = "pantry_login"
LOGIN_COOKIE_AGE = 3600  # seconds to fill in the sign-in form
MAX_FIELD = 4000  # characters of one form field


class SignInNeeded(Exception):
    """No live session: pages send the browser to /login, forms answer 401."""


def current(request) -> Session | None:
    return request.app.state.credentials.session(request.cookies.get(SESSION_COOKIE))


def require(request, needed: str) -> Session:
    session = current(request)
    if session is None:
        raise SignInNeeded()
    if not session.principal.allows(needed):
        scopes = ", ".join(sorted(session.principal.scopes))
        raise HttpError(
            403, f"Token '{session.principal.name}' may not do this: it needs the scope '{needed}' (it has: {scopes})."
        )
    return session


def _secure(request) -> bool:
    public_url = request.app.state.ctx.workspace().config().api.public_url or ""
    return request.url.scheme == "https" or public_url.lower().startswith("https:")


def _error_page(request, status: int, message: str, session: Session | None, hint: str | None = None):
    return html(request, "error.html", status=status, session=session, status_code=status, message=message, hint=hint)


def _refusal(request, exc: Exception, session: Session | None):
    if isinstance(exc, HttpError):
        return _error_page(request, exc.status, exc.message, session)
    assert isinstance(exc, PantryAlertError)
    status, _ = status_of(exc)
    return _error_page(request, status, exc.message, session, exc.hint)


def _sign_in_redirect(request):
    from starlette.responses import RedirectResponse

    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def view(needed: str = "read"):
    """A page: needs a live session whose token has ``needed``; the handler gets ``(request, session)``."""

    def wrap(handler):
        @functools.wraps(handler)
        def page(request):
            session = None
            try:
                session = require(request, needed)
                return handler(request, session)
            except SignInNeeded:
                return _sign_in_redirect(request)
            except (HttpError, PantryAlertError) as exc:
                return _refusal(request, exc, session)

        return page

    return wrap


async def read_form(request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (bounded), one value per field."""
    body = await read_body(request)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except UnicodeDecodeError:
        raise HttpError(400, "the form is not UTF-8") from None
    except ValueError as exc:
        raise HttpError(400, f"malformed form: {exc}") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if len(value) > MAX_FIELD:
            raise HttpError(400, f"the field '{key[:40]}' is longer than {MAX_FIELD} characters")
        form[key] = value
    return form


def check_csrf(session: Session, form: dict[str, str]) -> None:
    given = form.get("csrf", "")
    if not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise HttpError(
            403, "The form's security token is missing or stale: nothing was changed. Reload the page and try again."
        )


def action(needed: str):
    """A form: needs a live session whose token has ``needed`` and the session's CSRF token.
    The handler, ``(request, session, form)``, runs in a worker thread and returns the response."""

    def wrap(handler):
        @functools.wraps(handler)
        async def post(request):
            from starlette.concurrency import run_in_threadpool

            session = None
            try:
                session = await run_in_threadpool(require, request, needed)
                form = await read_form(request)
                check_csrf(session, form)
                return await run_write(handler, request, session, form)  # a write: in a write thread
            except SignInNeeded:
                return _error_page(
                    request, 401, "You are not signed in (or your session ended): nothing was changed.", None
                )
            except (HttpError, PantryAlertError) as exc:
                return _refusal(request, exc, session)

        return post

    return wrap


# ------------------------------------------------------------------ sign-in


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never another origin (``//host``, ``/\\host``, a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(request):
    if current(request) is not None:
        from starlette.responses import RedirectResponse

        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request)


def _login_form(request, *, status: int = 200, message: str | None = None):
    login_csrf = secrets.token_urlsafe(24)
    response = html(
        request,
        "login.html",
        status=status,
        login_csrf=login_csrf,
        next=_safe_next(request.query_params.get("next")),
        message=message,
        no_auth=request.app.state.ctx.no_auth,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        login_csrf,
        max_age=LOGIN_COOKIE_AGE,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


async def login(request):
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import RedirectResponse

    try:
        form = await read_form(request)
    except HttpError as exc:
        return _error_page(request, exc.status, exc.message, None)
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    given = form.get("login_csrf", "")
    if not cookie or not hmac.compare_digest(given.encode(), cookie.encode()):
        return _login_form(
            request, status=403, message="The sign-in form expired or did not come from this page. Try again."
        )
    ctx = request.app.state.ctx
    credentials = request.app.state.credentials
    token = form.get("token", "").strip()
    principal: Principal | None = None
    if ctx.no_auth:
        principal = NO_AUTH
    else:
        table, _ = await run_in_threadpool(credentials.current)
        principal = table.find(token, ctx.workspace().now()) if token else None
    if principal is None:
        return _login_form(request, status=401, message="That token is not valid: wrong, revoked or expired.")
    ws = ctx.workspace()
    cookie_value, session = await run_write(start_session, ws, principal, ttl_ms=ws.config().api.session_ttl_ms)
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_value,
        max_age=max(1, (session.expires_at - ws.now()) // 1000),
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login", httponly=True, samesite="strict", secure=_secure(request))
    return response


@action("read")
def logout(request, session: Session, form: dict[str, str]):
    from starlette.responses import RedirectResponse

    end_session(request.app.state.ctx.workspace(), session.id_hash)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response

"""The console's template environment and its HTML responses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"

_env = None


def environment():
    """One Jinja environment, autoescaping everything (every value from metrics, rules and people)."""
    global _env
    if _env is None:
        from jinja2 import Environment, FileSystemLoader

        env = Environment(
            loader=FileSystemLoader(str(TEMPLATES_DIR)),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        from ...timeutil import format_duration

        env.filters["duration"] = lambda ms: "-" if ms is None else format_duration(ms)
        _env = env
    return _env


def html(request, template: str, *, status: int = 200, session=None, **context: Any):
    """The page ``template`` rendered for ``request``; not cached by browsers or proxies."""
    from starlette.responses import HTMLResponse

    context.setdefault("message", None)
    ws = request.app.state.ctx.workspace()
    tz = ws.config().timezone
    from ...timeutil import format_time
    from ...views import hold_marks

    windows, now = ws.config().maintenance, ws.now()

    body = (
        environment()
        .get_template(template)
        .render(
            session=session,
            principal=session.principal if session is not None else None,
            csrf=session.csrf if session is not None else "",
            time=lambda ms: format_time(ms, tz),
            held=lambda alert: "".join(f" · {mark}" for mark in hold_marks(alert, windows, now)),
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

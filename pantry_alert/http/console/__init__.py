"""The web console of ``pantry-alert serve``: server-rendered pages for the people on call.

Pages are Jinja templates rendered on the server (``templates/``, autoescaped)
with their stylesheet and one small script served from the package
(``static/``): no CDN, no inline script or style, forms that work without
JavaScript; the script only refreshes the active alerts.  Charts are inline
SVG drawn on the server (``charts``).  Every action goes through the same
library calls as the command line and the API (``pantry_alert.actions``).

- ``session``: sign-in with a token, the session cookie, CSRF, scopes;
- ``render``: the template environment and the HTML responses;
- ``pages``: the pages (GET);
- ``forms``: the actions (POST);
- ``charts``: SVG geometry for the value and per-day charts;
- ``peers``: notes on alerts, shown when this version keeps them.
"""

from __future__ import annotations


def routes() -> list:
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from . import forms, pages, session
    from .render import STATIC_DIR

    return [
        Route("/", pages.active, methods=["GET"]),
        Route("/fragments/active", pages.active_rows, methods=["GET"]),
        Route("/alerts/{alert_id}", pages.alert, methods=["GET"]),
        Route("/alerts/{alert_id}/acknowledge", forms.acknowledge, methods=["POST"]),
        Route("/alerts/{alert_id}/resolve", forms.resolve, methods=["POST"]),
        Route("/alerts/{alert_id}/silence", forms.silence_rule, methods=["POST"]),
        Route("/alerts/{alert_id}/notes", forms.add_note, methods=["POST"]),
        Route("/history", pages.history, methods=["GET"]),
        Route("/silences", pages.silences, methods=["GET"]),
        Route("/silences", forms.create_silence, methods=["POST"]),
        Route("/silences/{silence_id}/expire", forms.expire_silence, methods=["POST"]),
        Route("/heartbeats", pages.heartbeats, methods=["GET"]),
        Route("/stats", pages.stats, methods=["GET"]),
        Route("/rules", pages.rules, methods=["GET"]),
        Route("/login", session.login_page, methods=["GET"]),
        Route("/login", session.login, methods=["POST"]),
        Route("/logout", session.logout, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]

"""Bearer-token authentication for ``/api/`` and ``/metrics`` (a pure ASGI middleware).

The check runs before the route and before any body is read, so a request
without the token changes nothing and costs little.  The comparison is
constant-time (``hmac.compare_digest``).  An authenticated request carries
the token's name in ``scope["state"]["token_name"]`` (``env``: the token of
``PANTRY_ALERT_API_TOKEN`` or ``api.token``), which is the actor of the
actions it takes (``common.actor_of``).
"""

from __future__ import annotations

import hmac

from .common import ENV_TOKEN_NAME, NO_AUTH_NAME, fail


def protected(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path == "/metrics" or path.startswith("/metrics/")


class BearerAuth:
    def __init__(self, app, token: str | None):
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope, receive, send):
        if self.token is not None and scope["type"] == "http" and protected(scope["path"]):
            given = b""
            for name, value in scope["headers"]:
                if name == b"authorization":
                    given = value
                    break
            scheme, _, credentials = given.strip().partition(b" ")
            # compare_digest on the whole token even when the scheme is wrong: no early exit to time
            valid = hmac.compare_digest(credentials.strip(), self.token)
            if not valid or scheme.lower() != b"bearer":
                message = "missing or invalid API token (send Authorization: Bearer <token>)"
                response = fail(401, message, headers={"WWW-Authenticate": 'Bearer realm="pantry-alert"'})
                await response(scope, receive, send)
                return
        if scope["type"] == "http":
            scope.setdefault("state", {})["token_name"] = ENV_TOKEN_NAME if self.token is not None else NO_AUTH_NAME
        await self.app(scope, receive, send)

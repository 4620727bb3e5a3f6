"""``GET|POST /ping/<ping key>/<name>[/start|/fail]`` (jobs on any host) and ``GET /api/heartbeats``.

The ping URLs take no bearer token, so that a plain ``curl -fsS -m 10 --retry 3
URL`` works from a crontab: the ping key in the path is the secret (at least
16 characters, compared in constant time).  A wrong key, no key configured and
an unknown heartbeat all answer the same 404 and record nothing, so the answer
does not tell which heartbeats exist.  The key never reaches a log line
(``redact``).
"""

from __future__ import annotations

import hmac
import logging
import re

from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse

from .common import HttpError, int_param, ok, read_body

PING_KEY_ENV = "PANTRY_ALERT_PING_KEY"
_PING_PATH = re.compile(r"/ping/[^/\s?]*")


def ping_key(config, env) -> str | None:
    """``api.ping_key``, else ``PANTRY_ALERT_PING_KEY``; None when neither is set."""
    return config.api.ping_key or (env.get(PING_KEY_ENV) or "").strip() or None


def redact(text: str) -> str:
    """``text`` with the key of every ping URL replaced by ``***``."""
    return _PING_PATH.sub("/ping/***", text)


class RedactPingKeys(logging.Filter):
    """For uvicorn's access log: the request line of a ping shows ``/ping/***/<name>``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "/ping/" in a for a in record.args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def _not_found() -> PlainTextResponse:
    return PlainTextResponse("Not found", status_code=404)


def _endpoint(kind: str):
    async def endpoint(request):
        return await ping(request, kind)

    return endpoint


async def ping(request, kind: str):
    """Record a ping: 200 ``OK``; 404 ``Not found`` for a wrong key or an unknown heartbeat."""
    from ..config.heartbeats import MIN_PING_KEY
    from ..errors import UnknownHeartbeat
    from ..pings import record_ping, target_of

    ctx = request.app.state.ctx
    ws = ctx.workspace()
    config = ws.config()
    expected = ping_key(config, ctx.env)
    given = request.path_params["key"].encode("utf-8", "replace")
    if expected is None or len(expected) < MIN_PING_KEY or not hmac.compare_digest(given, expected.encode()):
        return _not_found()
    name = request.path_params["name"]
    if all(hb.name != name for hb in config.heartbeats):
        return _not_found()
    raw_code = request.query_params.get("exit_code")
    if raw_code is not None and kind != "fail":
        raise HttpError(400, "'exit_code' goes with /fail")
    exit_code = None if raw_code in (None, "") else int_param(raw_code, "exit_code", default=0, low=0, high=255)
    message = None
    if kind == "fail" and request.method == "POST":
        message = (await read_body(request)).decode("utf-8", "replace") or None
    try:
        target = target_of(ws)
        await run_in_threadpool(record_ping, target, name, kind, now=ws.now(), exit_code=exit_code, output=message)
    except UnknownHeartbeat:  # rules.yaml changed meanwhile
        return _not_found()
    return PlainTextResponse("OK")


def heartbeats_list(request):
    """As ``heartbeats --json``."""
    from ..heartbeats import statuses

    return ok([status.to_json() for status in statuses(request.app.state.ctx.workspace())])


def routes() -> list:
    from starlette.routing import Route

    methods = ["GET", "POST"]
    return [
        Route("/ping/{key}/{name}", _endpoint("success"), methods=methods),
        Route("/ping/{key}/{name}/start", _endpoint("start"), methods=methods),
        Route("/ping/{key}/{name}/fail", _endpoint("fail"), methods=methods),
        Route("/api/heartbeats", heartbeats_list, methods=["GET"]),
    ]

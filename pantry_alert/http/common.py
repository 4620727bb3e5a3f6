"""The JSON envelope, library errors as status codes, and bounded request bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import errors

log = logging.getLogger("pantry_alert.http")

MAX_BODY = 64 * 1024  # bytes; larger bodies get 413 before they are read in full
RETRY_AFTER = 5  # seconds a client should wait when a check holds the state lock


class HttpError(Exception):
    """A request the server refuses: a status code and a message for the envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def actor_of(request, name: str | None = None):
    """The ``audit.Actor`` of a request: the name of the token it acts as (``BearerAuth`` or the
    console's session puts it in ``state["actor"]``), or ``name``, and the client's address."""
    from ..audit import Actor
    from ..tokens import NO_AUTH_NAME

    client = request.client.host if request.client is not None else None
    return Actor(name or request.scope.get("state", {}).get("actor") or NO_AUTH_NAME, client)


def ok(data: Any = None, *, message: str | None = None, status: int = 200):
    """``{"success": true, "data": ...}`` (and/or ``"message"``)."""
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"success": True}
    if message is not None:
        body["message"] = message
    if data is not None or message is None:
        body["data"] = data
    return JSONResponse(body, status_code=status)


def fail(status: int, message: str, *, hint: str | None = None, headers: dict[str, str] | None = None):
    """``{"success": false, "message": ...}``."""
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"success": False, "message": message}
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: errors.PantryAlertError) -> tuple[int, dict[str, str]]:
    """The status code (and headers) for a library error."""
    if isinstance(exc, errors.NotFoundError | errors.UnknownRule):
        return 404, {}
    if isinstance(exc, errors.ConflictError):
        return 409, {}
    if isinstance(exc, errors.StateLocked):
        return 503, {"Retry-After": str(RETRY_AFTER)}
    if isinstance(exc, errors.StateError | errors.ConfigNotWritable):
        return 503, {}
    if isinstance(exc, errors.UsageError | errors.ConfigError):
        return 400, {}
    return 500, {}


def library_error(exc: errors.PantryAlertError):
    status, headers = status_of(exc)
    message = exc.message
    if isinstance(exc, errors.ConfigError) and exc.problems:
        message += ": " + "; ".join(exc.problems)
    if status >= 500:
        log.warning("%s %s", status, message)
    return fail(status, message, hint=exc.hint, headers=headers)


async def read_body(request) -> bytes:
    """The raw body, at most ``MAX_BODY`` bytes (413 beyond, without reading the rest)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > MAX_BODY
        except ValueError:
            raise HttpError(400, "Content-Length is not a number") from None
        if too_big:
            raise HttpError(413, f"request body over the limit of {MAX_BODY // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise HttpError(413, f"request body over the limit of {MAX_BODY // 1024} KiB")
    return bytes(body)


MAX_DEPTH = 32  # nesting of objects and arrays in a request body
MAX_STRING = MAX_BODY  # characters of one string in a request body


def parse_json(body: bytes | str, what: str = "JSON body") -> Any:
    """The one parser of JSON a client sends (every route, and Slack's payload): at most
    ``MAX_BODY`` bytes, ``MAX_DEPTH`` levels, ``MAX_STRING`` characters a string, no lone
    surrogate.  ``HttpError(400)`` saying what is wrong otherwise, never a 500."""
    if len(body) > MAX_BODY:
        raise HttpError(413, f"{what} over the limit of {MAX_BODY // 1024} KiB")
    if _too_deep(body):
        raise HttpError(400, f"malformed {what}: nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise HttpError(400, f"malformed {what}: not UTF-8") from None
    except RecursionError:
        raise HttpError(400, f"malformed {what}: nested too deeply") from None
    except ValueError as exc:
        raise HttpError(400, f"malformed {what}: {exc}") from None
    _check_strings(data, what)
    return data


def _too_deep(body: bytes | str) -> bool:
    """Whether the JSON text nests more than ``MAX_DEPTH`` levels (brackets inside strings skipped)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _check_strings(data: Any, what: str) -> None:
    from ..text import check_input

    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and len(item) > MAX_STRING:
            raise HttpError(400, f"{what}: a string is longer than {MAX_STRING} characters")
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)
    try:
        check_input(data, what)
    except errors.UsageError as exc:
        raise HttpError(400, exc.message) from None


async def read_json(request, *, allowed: set[str], required: bool = False) -> dict[str, Any]:
    """A JSON object body with only ``allowed`` keys; an empty body is ``{}`` unless ``required``."""
    body = await read_body(request)
    if not body.strip():
        if required:
            raise HttpError(400, "a JSON body is required")
        return {}
    data = parse_json(body)
    if not isinstance(data, dict):
        raise HttpError(400, f"the JSON body must be an object, not {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise HttpError(400, f"unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(allowed))})")
    return data


def text_field(data: dict[str, Any], key: str, *, max_length: int = 1000) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HttpError(400, f"'{key}' must be a string")
    if len(value) > max_length:
        raise HttpError(400, f"'{key}' is longer than {max_length} characters")
    return value


def duration_field(value: Any, name: str, *, bare_unit: str | None = None, positive: bool = False) -> int | None:
    """A duration (``30s``, ``2h``...) from a query parameter or a body field, in milliseconds."""
    from ..timeutil import parse_duration, positive_duration

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise HttpError(400, f"'{name}' must be a duration such as 30m or 2h")
    try:
        ms = parse_duration(value, bare_unit=bare_unit, what=name)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    if positive:
        positive_duration(ms, f"'{name}' must be more than 0")
    return ms


def int_param(value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise HttpError(400, f"'{name}' must be a whole number, not {value[:50]!r}") from None
    if not low <= number <= high:
        raise HttpError(400, f"'{name}' must be between {low} and {high}, not {number}")
    return number


def choice_param(value: str | None, allowed, name: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise HttpError(400, f"'{name}' must be one of {', '.join(allowed)}, not {value[:50]!r}")
    return value

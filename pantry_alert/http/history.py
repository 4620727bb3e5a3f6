"""``GET /api/metrics/history``: one metric's stored samples, as ``metrics PATH --json`` prints them."""

from __future__ import annotations

from .common import HttpError, duration_field, ok

MAX_PATH_LENGTH = 500  # far beyond any metric path; a longer one is refused, not looked up


def metric_history(request):
    """Query ``path`` (required) and ``since`` (a duration, default 6h): ``[{"at": ms, "value": n}]``,
    oldest first; a path never recorded gives an empty array."""
    from .. import history

    q = request.query_params
    path = q.get("path")
    if not path:
        raise HttpError(400, "'path' (a dotted metric path such as errorRate) is required")
    if len(path) > MAX_PATH_LENGTH:
        raise HttpError(400, f"'path' is longer than {MAX_PATH_LENGTH} characters")
    since = duration_field(q.get("since") or None, "since", positive=True)
    ws = request.app.state.ctx.workspace()
    with ws.store() as store:
        rows = history.samples(store, path, now=ws.now(), since_ms=since or history.DEFAULT_SINCE_MS)
    return ok(rows)

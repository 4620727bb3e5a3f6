"""Prometheus as the metrics source: instant queries build the metrics document.

``source.prometheus.queries`` maps dotted metric paths (as rules read them)
to PromQL.  Every query runs concurrently as an instant query at the run's
"now" (``POST /api/v1/query`` with ``time=``); the answers are nested by their
paths, so rules written for the JSON document run unchanged.

- A scalar, or an instant vector of exactly one sample, gives its number (a
  whole number becomes an ``int``, so a description reads ``12``, not ``12.0``).
- A query that gives no usable number (an empty vector, NaN or an infinity,
  several samples, a range vector, a Prometheus error such as ``bad_data``,
  no answer in time) leaves an ``Unavailable`` marker at its path: the rules
  reading it are unevaluable with the query and the reason, the others run.
- When no query gets an answer at all (Prometheus unreachable, or failing
  every request), the source failed: ``MetricsError`` (exit 3).

httpx is imported only here, when the source is read; every exchange goes through
``fetch`` (total deadline, bounded body, no redirects).
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .errors import MetricsError
from .expressions import Unavailable
from .text import one_line

MAX_ANSWER = 10 * 1024 * 1024  # bytes of one query's answer
MAX_WORKERS = 16
MAX_EXACT = 2**53  # whole numbers up to here become ints


@dataclass
class Answer:
    """One query's outcome: a number, or why there is none.  ``answered``: Prometheus
    gave a well-formed success response (so the source itself works)."""

    path: str
    query: str
    value: int | float | None = None
    problem: str | None = None
    answered: bool = False


def read(source, *, now_ms: int | None = None) -> dict[str, Any]:
    """The metrics document from ``source`` (a ``config.PrometheusSource``) at ``now_ms``.

    Every query goes through the hardened ``fetch``: ``source.prometheus.timeout``
    bounds the whole source (all queries together), each answer is read streamed
    up to ``MAX_ANSWER`` bytes (decompressed), and redirects are not followed."""
    import time

    import httpx

    from .fetch import new_client
    from .redact import redact_url
    from .timeutil import now_ms as clock

    when = clock() if now_ms is None else now_ms
    timeout_s = source.timeout_ms / 1000
    deadline = time.monotonic() + timeout_s
    endpoint = source.url.rstrip("/") + "/api/v1/query"
    shown = redact_url(source.url)
    headers = dict(source.headers)
    headers.setdefault("Accept", "application/json")
    items = list(source.queries.items())
    workers = max(1, min(MAX_WORKERS, len(items)))
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with new_client(timeout=timeout_s, limits=limits) as client:
        call = Call(client, endpoint, headers, timeout_s, deadline)

        def run(item: tuple[str, str]) -> Answer:
            return query_one(call, item[0], item[1], when)

        if workers == 1:
            answers = [run(item) for item in items]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prometheus") as pool:
                answers = list(pool.map(run, items))

    if not any(a.answered for a in answers):
        reasons = "; ".join(f"{a.path}: {a.problem}" for a in answers[:3])
        more = f" (and {len(answers) - 3} more)" if len(answers) > 3 else ""
        raise MetricsError(f"Prometheus {shown} answered none of {len(answers)} queries: {reasons}{more}")
    return build_document(answers)


@dataclass
class Call:
    """What every query of one read shares: the client, endpoint, headers and deadline."""

    client: Any
    endpoint: str
    headers: dict[str, str]
    timeout_s: float
    deadline: float


def build_document(answers: list[Answer]) -> dict[str, Any]:
    """Nest the answers by their dotted paths; a failed query leaves its reason."""
    doc: dict[str, Any] = {}
    for answer in answers:
        *parents, leaf = answer.path.split(".")
        node = doc
        for segment in parents:
            node = node.setdefault(segment, {})
        if answer.problem is None:
            node[leaf] = answer.value
        else:
            node[leaf] = Unavailable(f"(Prometheus query '{_short(answer.query)}'): {answer.problem}")
    return doc


def query_one(call: Call, path: str, query: str, when_ms: int) -> Answer:
    """Run one instant query; never raises for what Prometheus or the network does."""
    from .fetch import FetchError, fetch

    answer = Answer(path, query)
    form = {"query": query, "time": f"{when_ms / 1000:.3f}", "timeout": f"{call.timeout_s:g}s"}
    try:
        reply = fetch(
            "POST",
            call.endpoint,
            timeout_s=call.timeout_s,
            deadline=call.deadline,
            headers=call.headers,
            form=form,
            max_bytes=MAX_ANSWER,
            client=call.client,
            headers_key="source.prometheus.headers",
        )
    except FetchError as exc:
        answer.problem = _fetch_problem(exc, call.timeout_s)
        return answer
    body = _json_object(reply.body)
    if body is None or body.get("status") not in ("success", "error"):
        answer.problem = f"HTTP {reply.status} {reply.reason}: not a Prometheus API answer"
    elif body["status"] == "error":
        kind = body.get("errorType") or f"HTTP {reply.status}"
        answer.problem = f"Prometheus error {kind}: {one_line(str(body.get('error', '')))[:300]}"
        # A query Prometheus rejects (bad_data, execution) still shows the server works.
        answer.answered = 400 <= reply.status < 500
    else:
        answer.answered = True
        data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
        try:
            answer.value = number_of(data.get("resultType"), data.get("result"))
        except ValueError as exc:
            answer.problem = str(exc)
    return answer


def _fetch_problem(exc, timeout_s: float) -> str:
    if exc.kind == "timeout":
        return f"no answer within {timeout_s:g}s (source.prometheus.timeout)"
    if exc.kind == "too_large":
        return f"the answer is larger than {MAX_ANSWER // (1024 * 1024)} MiB"
    if exc.kind == "redirect":
        return f"{exc}; point source.prometheus.url at the final URL"
    return str(exc)


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def number_of(result_type: Any, result: Any) -> int | float:
    """The one number of an instant query's result; ``ValueError`` saying why there is none."""
    if result_type == "scalar" and isinstance(result, list) and len(result) == 2:
        raw = result[1]
    elif result_type == "vector" and isinstance(result, list):
        raw = _one_sample(result)
    elif result_type == "matrix":
        raise ValueError("a range vector; an instant query needs an instant vector or a scalar (e.g. rate(x[5m]))")
    else:
        raise ValueError(f"a {result_type or 'malformed'} result, not a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"the value {str(raw)[:40]!r} is not a number") from None
    if math.isnan(number):
        raise ValueError("NaN (e.g. a division by zero or a rate over too few samples)")
    if math.isinf(number):
        raise ValueError(f"{'+' if number > 0 else '-'}Inf, not a finite number")
    return int(number) if number.is_integer() and abs(number) <= MAX_EXACT else number


def _one_sample(result: list) -> Any:
    if not result:
        raise ValueError("empty result (no series matched at that time)")
    if len(result) > 1:
        shown = ", ".join(_series(s) for s in result[:2]) + (", …" if len(result) > 2 else "")
        raise ValueError(
            f"{len(result)} samples ({shown}); a metric needs one: aggregate it, e.g. max(...) or sum(...)"
        )
    sample = result[0]
    value = sample.get("value") if isinstance(sample, dict) else None
    return value[1] if isinstance(value, list) and len(value) == 2 else None


def _series(sample: Any) -> str:
    metric = sample.get("metric") if isinstance(sample, dict) else None
    if not isinstance(metric, dict):
        return "{}"
    labels = ",".join(f'{k}="{v}"' for k, v in list(metric.items())[:4])
    return "{" + labels + ("…" if len(metric) > 4 else "") + "}"


def _short(query: str) -> str:
    query = one_line(query)
    return query if len(query) <= 120 else query[:119] + "…"

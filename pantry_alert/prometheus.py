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

httpx is imported only here, when the source is read.
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


def read(source, *, now_ms: int | None = None, transport=None) -> dict[str, Any]:
    """The metrics document from ``source`` (a ``config.PrometheusSource``) at ``now_ms``."""
    import httpx

    from .redact import redact_url
    from .timeutil import now_ms as clock

    when = clock() if now_ms is None else now_ms
    timeout_s = source.timeout_ms / 1000
    endpoint = source.url.rstrip("/") + "/api/v1/query"
    shown = redact_url(source.url)
    headers = dict(source.headers)
    headers.setdefault("Accept", "application/json")
    items = list(source.queries.items())
    workers = max(1, min(MAX_WORKERS, len(items)))
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    with httpx.Client(timeout=timeout_s, transport=transport, limits=limits, follow_redirects=True) as client:

        def run(item: tuple[str, str]) -> Answer:
            return query_one(client, endpoint, item[0], item[1], when, timeout_s, headers)

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


def query_one(client, endpoint: str, path: str, query: str, when_ms: int, timeout_s: float, headers) -> Answer:
    """Run one instant query; never raises for what Prometheus or the network does."""
    import httpx

    answer = Answer(path, query)
    form = {"query": query, "time": f"{when_ms / 1000:.3f}", "timeout": f"{timeout_s:g}s"}
    try:
        response = client.post(endpoint, data=form, headers=headers)
    except httpx.TimeoutException:
        answer.problem = f"no answer within {timeout_s:g}s (source.prometheus.timeout)"
        return answer
    except httpx.HTTPError as exc:
        answer.problem = f"request failed: {type(exc).__name__}: {one_line(str(exc))[:200]}"
        return answer
    if len(response.content) > MAX_ANSWER:
        answer.problem = f"the answer is larger than {MAX_ANSWER // (1024 * 1024)} MiB"
        return answer
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
        answer.problem = f"HTTP {response.status_code} {response.reason_phrase}: not a Prometheus API answer"
        return answer
    if body["status"] == "error":
        kind = body.get("errorType") or f"HTTP {response.status_code}"
        answer.problem = f"Prometheus error {kind}: {one_line(str(body.get('error', '')))[:300]}"
        # A query Prometheus rejects (bad_data, execution) still shows the server works.
        answer.answered = 400 <= response.status_code < 500
        return answer
    answer.answered = True
    data: dict[str, Any] = body["data"] if isinstance(body.get("data"), dict) else {}
    result_type, result = data.get("resultType"), data.get("result")
    if result_type == "scalar" and isinstance(result, list) and len(result) == 2:
        raw = result[1]
    elif result_type == "vector" and isinstance(result, list):
        if not result:
            answer.problem = "empty result (no series matched at that time)"
            return answer
        if len(result) > 1:
            shown = ", ".join(_series(s) for s in result[:2]) + (", …" if len(result) > 2 else "")
            answer.problem = (
                f"{len(result)} samples ({shown}); a metric needs one: aggregate it, e.g. max(...) or sum(...)"
            )
            return answer
        sample = result[0]
        value = sample.get("value") if isinstance(sample, dict) else None
        raw = value[1] if isinstance(value, list) and len(value) == 2 else None
    elif result_type == "matrix":
        answer.problem = "a range vector; an instant query needs an instant vector or a scalar (e.g. rate(x[5m]))"
        return answer
    else:
        answer.problem = f"a {result_type or 'malformed'} result, not a number"
        return answer
    try:
        number = float(raw)
    except (TypeError, ValueError):
        answer.problem = f"the value {str(raw)[:40]!r} is not a number"
        return answer
    if math.isnan(number):
        answer.problem = "NaN (e.g. a division by zero or a rate over too few samples)"
        return answer
    if math.isinf(number):
        answer.problem = f"{'+' if number > 0 else '-'}Inf, not a finite number"
        return answer
    answer.value = int(number) if number.is_integer() and abs(number) <= MAX_EXACT else number
    return answer


def _series(sample: Any) -> str:
    metric = sample.get("metric") if isinstance(sample, dict) else None
    if not isinstance(metric, dict):
        return "{}"
    labels = ",".join(f'{k}="{v}"' for k, v in list(metric.items())[:4])
    return "{" + labels + ("…" if len(metric) > 4 else "") + "}"


def _short(query: str) -> str:
    query = one_line(query)
    return query if len(query) <= 120 else query[:119] + "…"

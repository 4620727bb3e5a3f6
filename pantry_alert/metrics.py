"""Read the metrics document from a file, stdin or a URL.

Every failure is a ``MetricsError`` (exit 3) naming the file or URL and the
reason: HTTP status, timeout, JSON position, wrong top-level type.  httpx is
imported only when a URL is fetched.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, MetricsError

MAX_DOCUMENT = 10 * 1024 * 1024  # 10 MiB is far beyond any metrics endpoint


def parse_document(text: str | bytes, where: str, path: str | None = None) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetricsError(f"{where}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise MetricsError(f"{where}: not UTF-8 text ({exc.reason})") from None
    except RecursionError:
        raise MetricsError(f"{where}: the JSON is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise MetricsError(f"{where}: cannot parse the JSON: {exc}") from None
    if path:
        for segment in path.split("."):
            if not isinstance(doc, dict) or segment not in doc:
                raise MetricsError(f"{where}: source.path '{path}' not found in the document (missing '{segment}')")
            doc = doc[segment]
    if not isinstance(doc, dict):
        raise MetricsError(f"{where}: the metrics document must be a JSON object, got {type(doc).__name__}")
    return doc


def read_file(path: str, json_path: str | None = None) -> dict[str, Any]:
    if path == "-":
        return parse_document(sys.stdin.buffer.read(MAX_DOCUMENT + 1), "stdin", json_path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_DOCUMENT + 1)
    except FileNotFoundError:
        raise MetricsError(f"metrics file {path} not found") from None
    except OSError as exc:
        raise MetricsError(f"cannot read metrics file {path}: {exc.strerror}") from None
    if len(data) > MAX_DOCUMENT:
        raise MetricsError(f"metrics file {path} is larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")
    return parse_document(data, f"metrics file {path}", json_path)


def read_url(
    url: str,
    *,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
    json_path: str | None = None,
    transport=None,
) -> dict[str, Any]:
    import httpx

    from .notify.base import redact_url

    shown = redact_url(url)  # no credentials or query string in messages
    try:
        with httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=True) as client:
            response = client.get(url, headers=dict(headers or {}))
    except httpx.TimeoutException:
        raise MetricsError(f"metrics URL {shown}: no answer within {timeout_s:g}s (source.timeout)") from None
    except httpx.HTTPError as exc:
        raise MetricsError(f"metrics URL {shown}: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise MetricsError(f"metrics URL {shown}: HTTP {response.status_code} {response.reason_phrase}")
    if len(response.content) > MAX_DOCUMENT:
        raise MetricsError(f"metrics URL {shown}: the document is larger than {MAX_DOCUMENT // (1024 * 1024)} MiB")
    return parse_document(response.content, f"metrics URL {shown}", json_path)


def read(
    *,
    file: str | None = None,
    url: str | None = None,
    source=None,
    base_dir: Path | None = None,
    now: int | None = None,
) -> dict[str, Any]:
    """Read metrics: the command line (file or url) wins over the config's ``source``.

    ``now`` (epoch ms) is the instant a Prometheus source is queried at."""
    json_path = source.path if source is not None else None
    if file:
        return read_file(file, json_path)
    if url:
        return read_url(
            url,
            timeout_s=(source.timeout_ms / 1000) if source else 10.0,
            headers=source.headers if source else None,
            json_path=json_path,
        )
    if source is not None and getattr(source, "prometheus", None) is not None:
        from .prometheus import read as read_prometheus

        return read_prometheus(source.prometheus, now_ms=now)
    if source is not None and source.url:
        return read_url(source.url, timeout_s=source.timeout_ms / 1000, headers=source.headers, json_path=json_path)
    if source is not None and source.file:
        path = Path(source.file)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return read_file(str(path), json_path)
    raise ConfigError(
        "no metrics source: give --metrics-file PATH, --metrics-url URL, or set source.url / source.file / source.prometheus in rules.yaml"
    )

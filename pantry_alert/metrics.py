"""Read the metrics document from a file, stdin or a URL.

Every failure is a ``MetricsError`` (exit 3) naming the file or URL and the
reason: HTTP status, timeout, JSON position, wrong top-level type.  httpx is
imported only when a URL is fetched.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError, MetricsError

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

MAX_DOCUMENT = 10 * 1024 * 1024  # 10 MiB (decompressed) is far beyond any metrics endpoint
_MIB = MAX_DOCUMENT // (1024 * 1024)


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
        data = sys.stdin.buffer.read(MAX_DOCUMENT + 1)
        if len(data) > MAX_DOCUMENT:
            raise MetricsError(f"stdin is larger than {_MIB} MiB")
        return parse_document(data, "stdin", json_path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; anything but a regular file is refused.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise MetricsError(f"metrics file {path} not found") from None
    except OSError as exc:
        raise MetricsError(f"cannot read metrics file {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise MetricsError(
                f"metrics file {path} is not a regular file",
                hint="give a regular file, or '-' to read standard input",
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(MAX_DOCUMENT + 1)
    except OSError as exc:
        raise MetricsError(f"cannot read metrics file {path}: {exc.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_DOCUMENT:
        raise MetricsError(f"metrics file {path} is larger than {_MIB} MiB")
    return parse_document(data, f"metrics file {path}", json_path)


def read_url(
    url: str,
    *,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
    json_path: str | None = None,
) -> dict[str, Any]:
    """Fetch and parse the metrics document through the hardened ``fetch``.

    ``timeout_s`` bounds the whole fetch (connecting, the answer's headers and
    its body), not each read.  Redirects are not followed.  The body may not
    exceed ``MAX_DOCUMENT`` bytes after decompression.
    """
    from .fetch import FetchError, fetch
    from .redact import redact_url

    shown = redact_url(url)  # no credentials or query string in messages
    try:
        reply = fetch(
            "GET", url, timeout_s=timeout_s, headers=headers, max_bytes=MAX_DOCUMENT, headers_key="source.headers"
        )
    except FetchError as exc:
        if exc.kind == "timeout":
            raise MetricsError(f"metrics URL {shown}: no answer within {timeout_s:g}s (source.timeout)") from None
        if exc.kind == "too_large":
            raise MetricsError(f"metrics URL {shown}: the document is larger than {_MIB} MiB") from None
        if exc.kind == "redirect":
            raise MetricsError(
                f"metrics URL {shown}: {exc}; point source.url (or --metrics-url) at the final URL"
            ) from None
        raise MetricsError(f"metrics URL {shown}: {exc}") from None
    if not reply.ok:
        raise MetricsError(f"metrics URL {shown}: HTTP {reply.status} {reply.reason}")
    return parse_document(reply.body, f"metrics URL {shown}", json_path)


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

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
import time
import zlib
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


class _Decoder:
    """Content-Encoding decoding that never produces more than ``limit`` bytes in total."""

    def __init__(self, encoding: str, limit: int):
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []
        names = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self.kind = names[0] if names else None
        if self.kind in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.kind == "deflate":
            self._z = zlib.decompressobj()
            self._deflate_started = False

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise OverflowError
        self.chunks.append(data)

    def feed(self, data: bytes) -> None:
        if self.kind is None:
            self._keep(data)
            return
        if self.kind == "deflate" and not self._deflate_started and data:
            self._deflate_started = True
            try:  # a zlib stream, or (as some servers send) raw deflate
                probe = zlib.decompressobj()
                probe.decompress(data[:2])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            out = self._z.decompress(data, self.limit - self.size + 1)
            self._keep(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                break

    def result(self) -> bytes:
        return b"".join(self.chunks)


def _user_agent() -> str:
    from . import __version__

    return f"pantry-alert/{__version__}"


def _check_headers(headers: Mapping[str, str], shown: str) -> dict[str, str]:
    out = {"User-Agent": _user_agent()}
    for name, value in headers.items():
        name, value = str(name), str(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in name + value):
            raise MetricsError(f"metrics URL {shown}: header {name!r} contains a control character")
        if not (name + value).isascii():
            raise MetricsError(
                f"metrics URL {shown}: header {name!r} is not ASCII text "
                "(HTTP header values must be ASCII; check source.headers and the variables it uses)"
            )
        if name.lower() == "user-agent":
            out.pop("User-Agent", None)
        out[name] = value
    return out


def _fetch(url: str, headers: dict[str, str], deadline: float, cancelled) -> bytes:
    """GET ``url`` and return the decoded body; every step bounded by ``deadline`` (monotonic)."""
    import httpx

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or cancelled.is_set():
            raise httpx.TimeoutException("the fetch took longer than source.timeout")
        return remaining

    request_headers = dict(headers)
    request_headers.setdefault("Accept-Encoding", "gzip, deflate")
    with httpx.Client(timeout=httpx.Timeout(left()), follow_redirects=False) as client:
        with client.stream("GET", url, headers=request_headers) as response:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise _Redirect(response.status_code, response.reason_phrase, response.headers.get("location"))
            if not 200 <= response.status_code < 300:
                raise _Status(response.status_code, response.reason_phrase)
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and not response.headers.get("content-encoding"):
                if int(declared) > MAX_DOCUMENT:
                    raise OverflowError
            decoder = _Decoder(response.headers.get("content-encoding", ""), MAX_DOCUMENT)
            for chunk in response.iter_raw(65536):
                left()
                decoder.feed(chunk)
            left()
            return decoder.result()


class _Redirect(Exception):
    def __init__(self, status: int, reason: str, location: str | None):
        self.status, self.reason, self.location = status, reason, location


class _Status(Exception):
    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason


def read_url(
    url: str,
    *,
    timeout_s: float = 10.0,
    headers: Mapping[str, str] | None = None,
    json_path: str | None = None,
) -> dict[str, Any]:
    """Fetch and parse the metrics document.

    ``timeout_s`` bounds the whole fetch (connecting, the answer's headers and
    its body), not each read: the request runs in a worker thread and the
    caller stops waiting at the deadline.  Redirects are not followed.  The
    body may not exceed ``MAX_DOCUMENT`` bytes after decompression.
    """
    import threading
    from urllib.parse import urljoin

    from .redact import redact_url, scrub

    shown = redact_url(url)  # no credentials or query string in messages
    sent = _check_headers(headers or {}, shown)
    secrets: list[str | None] = [v for k, v in sent.items() if k != "User-Agent"]
    secrets += _url_secrets(url)
    deadline = time.monotonic() + timeout_s
    cancelled = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["body"] = _fetch(url, sent, deadline, cancelled)
        except BaseException as exc:  # handed to the caller, which words it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="pantry-alert-metrics", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
    if worker.is_alive():
        cancelled.set()  # the worker gives up at its next read; nobody waits for it
        raise MetricsError(f"metrics URL {shown}: no answer within {timeout_s:g}s (source.timeout)")
    error = outcome.get("error")
    if error is not None:
        import httpx

        if isinstance(error, _Redirect):
            target = redact_url(urljoin(url, error.location)) if error.location else "an unnamed location"
            raise MetricsError(
                f"metrics URL {shown}: HTTP {error.status} {error.reason}: a redirect to {target}, "
                "which pantry-alert does not follow; point source.url (or --metrics-url) at the final URL"
            )
        if isinstance(error, _Status):
            raise MetricsError(f"metrics URL {shown}: HTTP {error.status} {error.reason}")
        if isinstance(error, OverflowError):
            raise MetricsError(f"metrics URL {shown}: the document is larger than {_MIB} MiB")
        if isinstance(error, httpx.TimeoutException):
            raise MetricsError(f"metrics URL {shown}: no answer within {timeout_s:g}s (source.timeout)")
        if isinstance(error, ValueError) and "Content-Encoding" in str(error):
            raise MetricsError(f"metrics URL {shown}: {error}")
        if isinstance(error, zlib.error):
            raise MetricsError(f"metrics URL {shown}: the compressed body is corrupt ({error})")
        if not isinstance(error, Exception):
            raise error
        # Every other failure (refused connection, bad host name, TLS, protocol) is a source failure.
        from .neterrors import connect_problem

        detail = scrub(connect_problem(error) or f"{type(error).__name__}: {error}", secrets)
        raise MetricsError(f"metrics URL {shown}: {detail}")
    return parse_document(outcome["body"], f"metrics URL {shown}", json_path)


def _url_secrets(url: str) -> list[str]:
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
        found = [parts.password or "", unquote(parts.password or ""), parts.query]
        found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return []
    return [s for s in found if s]


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

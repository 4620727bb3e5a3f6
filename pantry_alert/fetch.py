"""The one outbound HTTP exchange: every peer pantry-alert calls goes through ``fetch``.

The metrics URL, the Prometheus source, the webhook, Slack and Alertmanager
channels (and any channel added later) call it; none of them opens its own
connection.  Whatever the peer does, an exchange

- ends by a total deadline (connecting, sending, the answer's headers and its
  body), not a per-read timeout: a peer that trickles one byte a second is cut
  off.  The exchange runs in a worker thread and the caller stops waiting at
  the deadline;
- reads the body streamed, never more than ``max_bytes`` after decompression
  (gzip and deflate are decoded here, bounded, so a gzip bomb stops at the
  limit); an error answer (not 2xx) keeps only its first ``ERROR_BODY`` bytes;
- never follows a redirect: a 3xx is a ``FetchError`` naming the target's host,
  and no header (token, API key) is sent anywhere but the configured URL;
- words every failure as a ``FetchError`` whose text holds no secret: the
  caller's secrets, every header value it sent and the URL's credentials and
  query are replaced by ``***``.

httpx is imported only when a request is made.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

MAX_BODY = 10 * 1024 * 1024  # bytes of an answer (decompressed), unless the caller says less
ERROR_BODY = 64 * 1024  # bytes kept of an error answer: enough for its message
# Header values that are no secret (everything else a caller sends is scrubbed from errors).
_PLAIN_HEADERS = {"user-agent", "content-type", "accept", "accept-encoding", "idempotency-key"}


class FetchError(Exception):
    """An exchange that gave no usable answer.  ``kind``: ``timeout``, ``too_large``,
    ``redirect``, ``encoding``, ``connect`` or ``request``.  ``str()`` is scrubbed."""

    def __init__(self, kind: str, detail: str, status: int | None = None):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.status = status


@dataclass
class Reply:
    """A peer's answer: any status but 3xx, and its decoded (bounded) body."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Decoder:
    """Content-Encoding decoding that never produces more than ``limit`` bytes in total
    (``OverflowError`` beyond it, or the bytes so far with ``truncate``)."""

    def __init__(self, encoding: str, limit: int, truncate: bool = False):
        self.limit = limit
        self.truncate = truncate
        self.full = False
        self.size = 0
        self.chunks: list[bytes] = []
        names = [e.strip().lower() for e in encoding.split(",") if e.strip() and e.strip().lower() != "identity"]
        if len(names) > 1 or (names and names[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError("encoding", f"unsupported Content-Encoding {encoding!r}")
        self.kind = names[0] if names else None
        if self.kind in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self.kind == "deflate":
            self._z = zlib.decompressobj()
            self._deflate_started = False

    def _keep(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            if not self.truncate:
                raise OverflowError
            data = data[: self.limit - self.size]
            self.full = True
        self.size += len(data)
        self.chunks.append(data)

    def feed(self, data: bytes) -> None:
        if self.full:
            return
        if self.kind is None:
            self._keep(data)
            return
        if self.kind == "deflate" and not self._deflate_started and data:
            self._deflate_started = True
            try:  # a zlib stream, or (as some servers send) raw deflate
                zlib.decompressobj().decompress(data[:2])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data and not self.full:
            out = self._z.decompress(data, self.limit - self.size + 1)
            self._keep(out)
            data = self._z.unconsumed_tail
            if self._z.eof:
                break

    def result(self) -> bytes:
        return b"".join(self.chunks)


def user_agent() -> str:
    from . import __version__

    return f"pantry-alert/{__version__}"


_TLS: dict[tuple[str, str], Any] = {}


def tls_context() -> Any:
    """The certificate store every outbound client verifies against, loaded once per process.

    What httpx would build for each client (certifi's bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set), kept per value of those variables: reading the bundle
    costs tens of milliseconds, and a run may open a client per channel."""
    import os

    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    context = _TLS.get(key)
    if context is None:
        import httpx

        context = _TLS[key] = httpx.create_ssl_context(trust_env=True)
    return context


def new_client(**options: Any) -> Any:
    """An ``httpx.Client`` that never follows redirects and verifies with ``tls_context()``."""
    import httpx

    return httpx.Client(follow_redirects=False, trust_env=True, verify=tls_context(), **options)


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that are secrets: user, password, query and its values."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
        found = [parts.password or "", unquote(parts.password or ""), parts.query]
        found += [parts.username or "", unquote(parts.username or "")] if parts.password else []
        found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    except ValueError:
        return []
    return [s for s in found if s]


def host_of(url: str) -> str:
    """Only the scheme and host (and port) of a URL: what a message may show of a URL
    that carries a secret in its path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url).strip())
        host = parts.hostname or "?"
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "?"
    return f"{parts.scheme}://{host}{port}" if parts.scheme else host


def check_headers(headers: Mapping[str, Any], where: str = "the headers setting") -> dict[str, str]:
    """The request headers as strings (with a User-Agent unless one is given); ``FetchError``
    for a control character or non-ASCII text, which HTTP cannot carry."""
    out = {"User-Agent": user_agent()}
    for name, value in headers.items():
        name, value = str(name), str(value)
        if any(ord(c) < 32 or ord(c) == 127 for c in name + value):
            raise FetchError("request", f"header {name!r} contains a control character")
        if not (name + value).isascii():
            raise FetchError(
                "request",
                f"header {name!r} is not ASCII text (HTTP header values must be ASCII; "
                f"check {where} and the variables it uses)",
            )
        if name.lower() == "user-agent":
            out.pop("User-Agent", None)
        out[name] = value
    return out


def fetch(
    method: str,
    url: str,
    *,
    timeout_s: float,
    headers: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    json: Any = None,
    form: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BODY,
    secrets: Sequence[str | None] = (),
    client: Any = None,
    deadline: float | None = None,
    accept_encoding: bool = True,
    headers_key: str = "the headers setting",
) -> Reply:
    """One exchange with ``url``, finished within ``timeout_s`` seconds (or by the monotonic
    ``deadline`` when given, e.g. one shared by several requests).

    ``headers_key`` names the setting the headers come from, for the message on a bad one.
    ``client``: an ``httpx.Client`` to reuse (keep-alive across a run's requests); by default
    each exchange opens and closes its own.  Returns the ``Reply`` of any status but 3xx;
    raises ``FetchError`` for everything else (see the module docstring)."""
    import threading

    from .redact import redact_url

    if deadline is None:
        deadline = time.monotonic() + timeout_s
    sent = check_headers(headers or {}, headers_key)
    if accept_encoding:
        sent.setdefault("Accept-Encoding", "gzip, deflate")
    hidden: list[str | None] = [v for k, v in sent.items() if k.lower() not in _PLAIN_HEADERS]
    hidden += [*secrets, *url_secrets(url)]
    if json is not None:
        import json as json_module

        content = json_module.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        sent.setdefault("Content-Type", "application/json")
    cancelled = threading.Event()
    outcome: dict[str, Any] = {}
    owned: list[Any] = []

    def work() -> None:
        try:
            outcome["reply"] = _exchange(
                client, owned, method, url, sent, content, form, deadline, cancelled, max_bytes
            )
        except BaseException as exc:  # handed to the caller, which words it
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="pantry-alert-fetch", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()) + 0.05)
    if worker.is_alive():
        cancelled.set()  # the worker gives up at its next read; nobody waits for it
        # Closing its connection ends a read that is waiting now; a close may itself wait for
        # the connection pool's lock, so it happens in a thread nobody waits for.
        threading.Thread(target=_close_all, args=(list(owned),), daemon=True).start()
        raise FetchError("timeout", f"no answer within {timeout_s:g}s")
    error = outcome.get("error")
    if error is None:
        return outcome["reply"]
    raise _worded(error, url, timeout_s, max_bytes, hidden, redact_url) from None


def _close_all(things: list[Any]) -> None:
    for thing in reversed(things):  # the response, then the client
        try:
            thing.close()
        except Exception:  # noqa: S110 - the exchange is abandoned; its close may fail any way
            pass


def _worded(error: BaseException, url: str, timeout_s: float, max_bytes: int, hidden, redact_url) -> BaseException:
    import httpx

    from .redact import scrub

    if isinstance(error, FetchError):
        error.detail = scrub(error.detail, hidden)
        error.args = (error.detail,)
        return error
    if isinstance(error, OverflowError):
        return FetchError("too_large", f"the answer is larger than {_size(max_bytes)}")
    if isinstance(error, httpx.TimeoutException):
        return FetchError("timeout", f"no answer within {timeout_s:g}s")
    if isinstance(error, zlib.error):
        return FetchError("encoding", f"the compressed body is corrupt ({error})")
    if not isinstance(error, Exception):
        return error
    from .neterrors import connect_problem

    plain = connect_problem(error)
    if plain:
        return FetchError("connect", plain)
    import ssl

    cert: BaseException | None = error
    for _ in range(8):  # httpx's error wraps httpcore's, which wraps ssl's
        if cert is None or isinstance(cert, ssl.SSLCertVerificationError):
            break
        cert = cert.__cause__ or cert.__context__
    if isinstance(cert, ssl.SSLCertVerificationError):
        return FetchError("connect", f"TLS certificate verification failed: {getattr(cert, 'verify_message', cert)}")
    reason = " ".join(scrub(str(error) or type(error).__name__, hidden).split())
    return FetchError("request", f"{type(error).__name__}: {reason[:300]}")


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _exchange(client, owned, method, url, headers, content, form, deadline, cancelled, max_bytes) -> Reply:
    """The exchange itself (in the worker thread); every step bounded by ``deadline``."""
    import httpx

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or cancelled.is_set():
            raise httpx.TimeoutException("the deadline passed")
        return remaining

    if client is None:
        client = new_client(timeout=httpx.Timeout(left()))
        owned.append(client)
    try:
        request = client.build_request(
            method, url, headers=headers, content=content, data=form, timeout=httpx.Timeout(left())
        )
        response = client.send(request, stream=True, follow_redirects=False)
        owned.append(response)
        try:
            return _read(response, url, left, max_bytes)
        finally:
            response.close()
    finally:
        if owned and owned[0] is client:
            client.close()


def _read(response, url: str, left, max_bytes: int) -> Reply:
    from urllib.parse import urljoin

    from .redact import redact_url

    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("location")
        target = redact_url(urljoin(url, location)) if location else "an unnamed location"
        raise FetchError(
            "redirect",
            f"HTTP {status} {response.reason_phrase}: a redirect to {target}, which pantry-alert does not follow",
            status,
        )
    ok = 200 <= status < 300
    limit = max_bytes if ok else min(max_bytes, ERROR_BODY)
    declared = response.headers.get("content-length")
    encoding = response.headers.get("content-encoding", "")
    if ok and declared and declared.isdigit() and not encoding and int(declared) > limit:
        raise OverflowError
    decoder = Decoder(encoding, limit, truncate=not ok)
    for chunk in response.iter_raw(65536):
        left()
        decoder.feed(chunk)
        if decoder.full:
            break
    left()
    headers = {k.lower(): v for k, v in response.headers.items()}
    return Reply(status, response.reason_phrase, headers, decoder.result())


def channel_problem(error: FetchError, timeout: float) -> str:
    """A channel's words for a ``FetchError`` (after ``"<channel> <peer>: "``)."""
    if error.kind == "timeout":
        return f"timed out after {timeout:g}s"
    if error.kind == "connect":
        return f"cannot connect: {error}"
    if error.kind == "redirect":
        return f"{error} (redirects are not followed; configure the final URL)"
    if error.kind == "request":
        return f"request failed: {error}"
    return str(error)

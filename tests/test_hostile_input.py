"""Hostile metrics input: redirects, bombs, trickles, FIFOs, odd hosts.

Memory-bound tests run the installed command under a small runner that reports its peak RSS;
FIFOs and devices, which could make a process wait forever, go to the installed command too.
The rest run in-process.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
import zlib

import pytest
from conftest import SIMPLE_CONFIG, T0
from hostile_peers import RawServer, measured_run

MIB = 1024 * 1024
RSS_LIMIT_MB = 200


def url_config(cli, url: str, extra: str = "", timeout: str = "5s") -> None:
    cli.config.write_text(
        SIMPLE_CONFIG.format(severity="high", cooldown="10m") + f"source:\n  url: {url}\n  timeout: {timeout}\n{extra}"
    )


@pytest.fixture
def servers():
    made: list[RawServer] = []

    def make(handler) -> RawServer:
        server = RawServer(handler)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def respond(status: str, headers: dict[str, str], body: bytes = b""):
    def handler(conn, _server):
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(head.encode() + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)

    return handler


# ------------------------------------------------------------------ redirects and User-Agent


def test_redirect_is_not_followed_and_names_the_target_without_secrets(simple, servers):
    final = servers(respond("200 OK", {"Content-Type": "application/json"}, b'{"cpu": 99}'))
    target = final.url("/final").replace("http://", "http://bob:pw-in-location@") + "?sig=LOCATIONSECRET"
    origin = servers(respond("302 Found", {"Location": target}))
    url_config(simple, origin.url("/m"), '  headers: {X-Api-Key: "${API_KEY}"}\n')

    result = simple("check", env={"API_KEY": "key-abcdef-123"})

    assert result.code == 3
    assert result.err == (
        f"error: metrics URL {origin.url('/m')}: HTTP 302 Found: a redirect to {final.url('/final')}?…, "
        "which pantry-alert does not follow; point source.url (or --metrics-url) at the final URL\n"
    )
    assert final.requests == []  # the secret header never went to the other host
    assert "x-api-key: key-abcdef-123" in origin.requests[0].lower()
    for secret in ("LOCATIONSECRET", "pw-in-location", "key-abcdef-123"):
        assert secret not in result.out + result.err
        assert secret.encode() not in simple.db.read_bytes()


def test_metrics_request_sends_user_agent(simple, servers):
    from pantry_alert import __version__

    server = servers(respond("200 OK", {"Content-Type": "application/json"}, b'{"cpu": 93}'))
    url_config(simple, server.url())
    result = simple("check")
    assert result.code == 0, result.err
    assert f"user-agent: pantry-alert/{__version__}" in server.requests[0].lower().splitlines()


# ------------------------------------------------------------------ bounded memory


def _affine(crc_after):
    """``crc_after`` (a function of a CRC-32, such as ``lambda c: zlib.crc32(block, c)``, affine over
    GF(2)) as its 32 columns and its constant."""
    constant = crc_after(0)
    return [crc_after(1 << bit) ^ constant for bit in range(32)], constant


def _apply(affine, crc: int) -> int:
    columns, result = affine
    for bit in range(32):
        if crc >> bit & 1:
            result ^= columns[bit]
    return result


def _crc32_repeated(block: bytes, times: int, crc: int) -> int:
    """``zlib.crc32(block * times, crc)`` without reading ``times`` blocks: the map from a CRC to
    the CRC after one more block, raised to the power ``times`` by squaring."""
    step = _affine(lambda c: zlib.crc32(block, c))
    power = ([1 << bit for bit in range(32)], 0)  # the identity
    while times:
        if times & 1:
            power = ([_apply(step, c) ^ step[1] for c in power[0]], _apply(step, power[1]))
        step = ([_apply(step, c) ^ step[1] for c in step[0]], _apply(step, step[1]))
        times >>= 1
    return _apply(power, crc)


def gzip_bomb(decompressed_mib: int) -> bytes:
    """A valid gzip document of ``decompressed_mib`` MiB of padding, built without deflating it all:
    after a full flush the compressor starts afresh, so each MiB of spaces deflates to the same bytes."""
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start, block, end = b'{"cpu": 1, "pad": "', b" " * MIB, b'"}'
    head = z.compress(start) + z.flush(zlib.Z_FULL_FLUSH)
    unit = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    assert z.compress(block) + z.flush(zlib.Z_FULL_FLUSH) == unit
    tail = z.compress(end) + z.flush()
    crc = zlib.crc32(end, _crc32_repeated(block, decompressed_mib, zlib.crc32(start)))
    size = (len(start) + decompressed_mib * MIB + len(end)) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + head + unit * decompressed_mib + tail + struct.pack("<II", crc, size)


def test_the_gzip_bomb_is_a_valid_document():
    document = gzip.decompress(gzip_bomb(3))
    assert document == b'{"cpu": 1, "pad": "' + b" " * (3 * MIB) + b'"}'
    assert _crc32_repeated(b"abc", 13, 7) == zlib.crc32(b"abc" * 13, 7)


@pytest.mark.slow
def test_gzip_bomb_stops_at_the_limit_in_decompressed_bytes(simple, servers):
    body = gzip_bomb(1024)  # 1 GiB once inflated, about 1 MB on the wire
    assert len(body) < 2 * MIB
    server = servers(respond("200 OK", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body))
    url_config(simple, server.url(), timeout="20s")

    code, out, err, rss_mb, _ = measured_run(simple, "check")

    assert code == 3
    assert err == f"error: metrics URL {server.url()}: the document is larger than 10 MiB\n"
    assert rss_mb < RSS_LIMIT_MB, rss_mb


def test_small_gzip_document_is_read(simple, servers):
    body = zlib.compress(json.dumps({"cpu": 97}).encode(), wbits=zlib.MAX_WBITS | 16)
    server = servers(respond("200 OK", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, body))
    url_config(simple, server.url())
    result = simple("check")
    assert result.code == 0, result.err
    assert "CPU at 97%" in result.out


def endless_chunks(conn, _server):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b" " * 65536
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    conn.sendall(b'6\r\n{"a": \r\n')
    for _ in range(100_000):  # 6 GB if nobody stops reading
        conn.sendall(frame)


@pytest.mark.slow
def test_endless_chunked_body_stops_at_the_limit(simple, servers):
    server = servers(endless_chunks)
    url_config(simple, server.url(), timeout="20s")
    code, out, err, rss_mb, _ = measured_run(simple, "check")
    assert code == 3
    assert err == f"error: metrics URL {server.url()}: the document is larger than 10 MiB\n"
    assert rss_mb < RSS_LIMIT_MB, rss_mb


def test_stdin_over_the_limit_is_rejected_like_a_file(simple):
    big = simple.tmp / "big.json"
    with open(big, "wb") as fh:
        fh.write(b'{"cpu": 95, "pad": "' + b" " * (10 * MIB) + b'"}')
    from_stdin = simple("check", "--metrics-file", "-", input=big.read_text())
    assert (from_stdin.code, from_stdin.out, from_stdin.err) == (3, "", "error: stdin is larger than 10 MiB\n")
    file_result = simple("check", "--metrics-file", str(big))
    assert file_result.code == 3
    assert file_result.err == f"error: metrics file {big} is larger than 10 MiB\n"


# ------------------------------------------------------------------ the timeout bounds the whole fetch


def trickle(conn, _server):
    body = b'{"cpu": 99}'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode()
    for byte in head + body:  # one byte every 0.05 s: each read is quick, the whole is not
        conn.sendall(bytes([byte]))
        time.sleep(0.05)


@pytest.mark.slow
def test_trickling_server_is_cut_off_at_source_timeout(simple, servers):
    server = servers(trickle)
    url_config(simple, server.url(), timeout="0.25s")
    started = time.monotonic()
    result = simple("check")
    elapsed = time.monotonic() - started
    assert result.code == 3
    assert result.err == f"error: metrics URL {server.url()}: no answer within 0.25s (source.timeout)\n"
    assert elapsed < 2.0, elapsed  # the timeout and the run, not 0.05 s per byte (~3.7 s)


# ------------------------------------------------------------------ every failure to fetch is exit 3


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://" + "a" * 64 + ".example/m", "UnicodeError: encoding with 'idna' codec failed"),
        ("http://xn--zz.example/m", "IDNAError: Invalid A-label"),
        ("http://\u2603\u2603.example/m", "InvalidURL: Invalid IDNA hostname"),
    ],
)
def test_bad_host_names_are_source_failures(simple, url, reason):
    results = [simple("check", "--metrics-url", url, now=T0 + i) for i in range(3)]
    assert [r.code for r in results] == [3, 3, 3]
    assert results[0].err.startswith(f"error: metrics URL {url}: {reason}")
    # counted: the third failure in a row fires the built-in alert
    assert results[2].out.startswith(f"FIRED     metrics_source_unavailable_{T0 + 2} [high]")


def test_non_ascii_header_value_is_a_source_failure(simple, servers):
    server = servers(respond("200 OK", {"Content-Type": "application/json"}, b'{"cpu": 1}'))
    url_config(simple, server.url(), '  headers: {X-Team: "${TEAM}"}\n')
    result = simple("check", env={"TEAM": "caf\u00e9"})
    assert result.code == 3
    assert result.err == (
        f"error: metrics URL {server.url()}: header 'X-Team' is not ASCII text "
        "(HTTP header values must be ASCII; check source.headers and the variables it uses)\n"
    )
    assert server.requests == []


# ------------------------------------------------------------------ non-regular files


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_as_metrics_file_is_refused_not_waited_on(simple):
    fifo = simple.tmp / "metrics.fifo"
    os.mkfifo(fifo)
    result = simple("check", "--metrics-file", str(fifo), timeout=20)
    assert result.code == 3
    assert result.err == f"error: metrics file {fifo} is not a regular file\n"


@pytest.mark.slow
def test_dev_zero_as_metrics_file_is_refused(simple):
    result = simple("rules", "test", "--metrics-file", "/dev/zero", timeout=20)
    assert result.code == 3
    assert result.err == (
        "error: metrics file /dev/zero is not a regular file\nhint: give a regular file, or '-' to read standard input\n"
    )


def test_stdin_dash_still_reads_standard_input(simple):
    result = simple("check", "--metrics-file", "-", input=json.dumps({"cpu": 96}))
    assert result.code == 0, result.err
    assert "CPU at 96%" in result.out


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
# The cron run, and one reader: every other command resolves the database path as ``list`` does.
@pytest.mark.parametrize("command", [("check", "--metrics-file", "-"), ("list",)])
def test_fifo_as_database_is_refused_not_waited_on(simple, command):
    fifo = simple.tmp / "state.fifo"
    os.mkfifo(fifo)
    result = simple(*command, env={"PANTRY_ALERT_DB": str(fifo)}, input='{"cpu": 95}', timeout=20)
    assert result.code == 4
    assert result.err == (
        f"error: state database {fifo} is a FIFO; it was not opened\n"
        "hint: point --db (or PANTRY_ALERT_DB, state.path) at a regular file or at a path that does not exist yet\n"
    )
    assert result.out == ""

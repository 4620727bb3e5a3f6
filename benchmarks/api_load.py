"""What the API benchmarks share: the server as the installed console script, a free port, the
server's peak RSS, waiting for an HTTP answer and the asyncio keep-alive load client."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOW = 1764158400000  # 2025-11-26T12:00:00Z: fixed, so runs compare
TOKEN = "bench-token-0123456789abcdef"
TARGET_P99_MS = 50  # our p99, alone and beside Alertmanager


def _script() -> list[str]:
    found = shutil.which("pantry-alert", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [found] if found else [sys.executable, "-m", "pantry_alert"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _client(port: int, request: bytes, deadline: float, latencies: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            chunked = False
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                    chunked = True
            if chunked:  # Alertmanager streams its answer
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(str(status))
    finally:
        writer.close()


async def _load(
    port: int, path: str, clients: int, seconds: float, headers: dict[str, str] | None = None
) -> tuple[list[float], list[str], float]:
    headers = {"Authorization": f"Bearer {TOKEN}"} if headers is None else headers
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: keep-alive\r\n\r\n".encode()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client(port, request, deadline, latencies, errors) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - started


def _wait_http(url: str, headers: dict[str, str], proc: subprocess.Popen, log: Path) -> bytes:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(log.read_text()) from None
            time.sleep(0.1)

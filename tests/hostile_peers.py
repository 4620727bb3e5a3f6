"""Raw TCP peers for hostile-input tests: a metrics endpoint that misbehaves on purpose.

Each connection is handled by ``handler(sock, request_bytes)`` in its own thread; the
requests received are kept in ``requests`` (raw header block, decoded as latin-1).
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import CHANNEL_ENV, _script  # noqa: E402


class RawServer:
    def __init__(self, handler):
        self.handler = handler
        self.requests: list[str] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/m") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            conn.settimeout(10)
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.requests.append(data.split(b"\r\n\r\n", 1)[0].decode("latin-1"))
                self.handler(conn, self)
            except OSError:
                pass  # the client went away: expected for the hostile ones

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


def measured_run(cli, *args: str, timeout: float = 60, stdin=None):
    """Run the installed command under a tiny Python runner that reports the child's peak RSS.

    Returns (exit code, stdout, stderr, peak RSS in MB, wall seconds).
    """
    import os
    import subprocess
    import time

    runner = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "sys.stderr.write('MAXRSS_KB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in CHANNEL_ENV}
    env.update(cli.env)
    env.update(PANTRY_ALERT_CONFIG=str(cli.config), PANTRY_ALERT_DB=str(cli.db), PANTRY_ALERT_NOW="1764158400000")
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", runner, *_script(), *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=cli.tmp,
    )
    elapsed = time.monotonic() - started
    err = proc.stderr.decode("utf-8", "replace")
    rss_line = [line for line in err.splitlines() if line.startswith("MAXRSS_KB=")][-1]
    err = err.replace(rss_line + "\n", "")
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), err, int(rss_line.split("=")[1]) / 1024, elapsed

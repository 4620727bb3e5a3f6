"""Shared fixtures: the command line run in-process (or as the installed console script in a
subprocess where the process itself matters), configs and metrics in tmp_path."""

from __future__ import annotations

import email
import email.policy
import io
import json
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings
from pytest_httpserver import HTTPServer

from pantry_alert.notify.registry import CHANNEL_NAMES, capabilities

# Property tests judge results, not speed: a loaded CI machine (two cores, two xdist workers and
# the real servers some tests start) must not turn a slow example into a failure.
settings.register_profile("pantry-alert", deadline=None)
settings.load_profile("pantry-alert")


def _serve_until_stopped(self) -> None:
    """pytest-httpserver's server thread, polling for shutdown every 20 ms instead of 500 ms:
    each ``stop()`` returns at once rather than after up to half a second."""
    self.server.serve_forever(poll_interval=0.02)


# The plugin names thread_target as the method to override to tailor how the server runs.
HTTPServer.thread_target = _serve_until_stopped  # type: ignore[method-assign]

ROOT = Path(__file__).resolve().parent.parent
SEED_METRICS = {
    "p95ResponseTime": 2500,
    "errorRate": 0.0734,
    "memoryUsage": {"current": {"heapUsed": 900, "heapTotal": 1000}},
    "databaseErrors": 12,
    "failedLogins": 75,
}
HEALTHY_METRICS = {
    "p95ResponseTime": 420,
    "errorRate": 0.002,
    "memoryUsage": {"current": {"heapUsed": 410, "heapTotal": 1000}},
    "databaseErrors": 0,
    "failedLogins": 3,
}
T0 = 1764158400000  # 2025-11-26T12:00:00Z
# An alert in its JSON shape (docs/commands.md), as channels receive it.
SAMPLE_ALERT = {
    "id": "high_error_rate_1764160000000",
    "type": "error",
    "severity": "critical",
    "title": "High Error Rate",
    "description": "Error rate is 7.34% (threshold: 5%)",
    "timestamp": 1764160000000,
    "metadata": {"rule": "high_error_rate", "metrics": {"errorRate": 0.0734}, "escalated": False, "alertCount": 1},
    "resolved": False,
    "resolvedAt": None,
    "ruleId": "high_error_rate",
    "status": "firing",
    "count": 1,
    "lastSeenAt": 1764160000000,
    "acknowledgedAt": None,
    "acknowledgedBy": None,
    "resolvedBy": None,
    "escalated": False,
    "silenced": False,
    "inhibited": False,
    "runbookUrl": None,
    "labels": {},
}
MINUTE = 60_000
# The channels' environment variables (as each channel declares them) and the program's own:
# never inherited from the developer's shell.
CHANNEL_ENV = (
    *(var for name in CHANNEL_NAMES for var in capabilities(name).env),
    "FRONTEND_URL",
    "PANTRY_ALERT_LINK_SECRET",
    "PANTRY_ALERT_CONFIG",
    "PANTRY_ALERT_DB",
    "PANTRY_ALERT_NOW",
)


def pytest_sessionstart(session) -> None:
    """In CI, test the installed package, not the source tree next to the tests.

    ``python -m pytest`` puts the working directory first on ``sys.path``, so from the repository
    root ``import pantry_alert`` would find ./pantry_alert/ whatever was installed; run ``pytest``
    (or ``python -P -m pytest``).  Locally an editable install points at the source tree: fine.
    """
    if not os.environ.get("CI"):
        return
    import pantry_alert

    loaded = Path(pantry_alert.__file__).resolve().parent
    if loaded == ROOT / "pantry_alert":
        pytest.exit(
            f"CI: pantry_alert was imported from the source tree ({loaded}), not from the installed package; "
            "install it with `pip install '.[test]'` (not -e) and run `pytest` rather than `python -m pytest`",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


# True while a test wraps the console script (``_script``) in something that only a real
# process can carry (dropped capabilities): ``Cli.__call__`` then spawns it.
SPAWN = False
# Set by a test to a ``BoundWorker`` (a process started under e.g. ``setpriv``): ``Cli.__call__``
# then runs each command line in that process, in-process there, instead of one process per call.
BOUND = None

_WORKER = """
import json, os, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from conftest import run_in_process
requests, replies = os.fdopen(os.dup(0), "r"), os.fdopen(os.dup(1), "w")
for line in requests:
    argv, env, cwd, stdin = json.loads(line)
    result = run_in_process(argv, env, cwd=Path(cwd), input=stdin)
    replies.write(json.dumps([result.code, result.out, result.err]) + "\\n")
    replies.flush()
"""


class BoundWorker:
    """One process started under ``prefix`` (e.g. ``setpriv --bounding-set=-all``) that runs
    ``run_in_process`` for each command line it is sent: what the prefix binds holds for every
    run, without starting a process per run."""

    def __init__(self, prefix: list[str]):
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", _WORKER, str(Path(__file__).parent)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, input: str | None) -> Result:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([argv, env, str(cwd), input]) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, f"the bound worker exited with {self.proc.wait()}"
        return Result(*json.loads(reply))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


def _script() -> list[str]:
    found = shutil.which("pantry-alert", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [found] if found else [sys.executable, "-m", "pantry_alert"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def rows(db, sql: str, *params) -> list[tuple]:
    """The rows ``sql`` selects from the SQLite file ``db``, read on a read-only connection of the test's own."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


class Cli:
    """Runs ``pantry-alert`` with a config, a database and a clock of the test's.

    ``cli(...)`` calls ``pantry_alert.cli.main`` in this process, as a fresh process would see it:
    its own environment, working directory, TZ, stdin, stdout, stderr, warnings and logging, all
    restored afterwards.  ``cli.spawn(...)`` and ``cli.popen(...)`` start the installed console
    script instead; use them only where the process matters (imports at startup, signals, locks
    held by another process, parallel runs, the entry point itself).
    """

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.config = tmp_path / "rules.yaml"
        self.db = tmp_path / "state.db"
        self.env = {k: v for k, v in os.environ.items() if k not in CHANNEL_ENV}
        self.env["COLUMNS"] = "120"
        self.env["TZ"] = "UTC"

    def metrics(self, data: dict | str, name: str = "metrics.json") -> Path:
        path = self.tmp / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def environment(self, now: int | str | None = T0, env: dict | None = None) -> dict[str, str]:
        """The environment of one run: the test's, the config, the database and the clock."""
        full_env = dict(self.env)
        full_env["PANTRY_ALERT_CONFIG"] = str(self.config)
        full_env["PANTRY_ALERT_DB"] = str(self.db)
        if now is not None:
            full_env["PANTRY_ALERT_NOW"] = str(now)
        full_env.update(env or {})
        return full_env

    def __call__(
        self,
        *args: str,
        now: int | str | None = T0,
        env: dict | None = None,
        input: str | None = None,
        timeout: float | None = None,
    ) -> Result:
        """Run the command line in this process.

        With ``timeout`` (tests of hostile input that must stay bounded in time and memory),
        or while a test runs the command bound by something around it (``SPAWN`` set, e.g.
        under ``setpriv``), it runs the installed console script in a subprocess instead; with
        ``BOUND`` set, in that worker process."""
        if timeout is not None or SPAWN:
            return self.spawn(*args, now=now, env=env, input=input, timeout=timeout or 60)
        if BOUND is not None:
            return BOUND.run(list(args), self.environment(now, env), self.tmp, input)
        return run_in_process(list(args), self.environment(now, env), cwd=self.tmp, input=input)

    def spawn(
        self,
        *args: str,
        now: int | str | None = T0,
        env: dict | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> Result:
        """Run the installed console script in a subprocess."""
        proc = subprocess.run(
            _script() + list(args),
            env=self.environment(now, env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str, now: int | None = T0, env: dict | None = None) -> subprocess.Popen:
        """Start the installed console script; the caller waits for it."""
        return subprocess.Popen(
            _script() + list(args),
            env=self.environment(now, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.tmp,
        )

    def check(self, metrics: dict, *args: str, now: int = T0, **kw) -> Result:
        path = self.metrics(metrics, f"metrics-{now}.json")
        return self("check", "--metrics-file", str(path), *args, now=now, **kw)


# What a fresh interpreter starts with (python -W unset): the warnings it shows on stderr.
_PYTHON_WARNING_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, None),
    ("ignore", PendingDeprecationWarning, None),
    ("ignore", ImportWarning, None),
    ("ignore", ResourceWarning, None),
)


def _capture(errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors=errors, newline="\n", write_through=True)


def _captured(stream: io.TextIOWrapper) -> str:
    """What a parent reading the stream as text sees (subprocess's universal newlines)."""
    stream.flush()
    text = stream.buffer.getvalue().decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Diagnostics(logging.Handler):
    """Warnings and log records of one in-process run, written to its stderr as a fresh process
    would (the interpreter's ``lastResort`` handler prints a bare message).  Records and warnings
    from threads that existed before the run (the tests' own peers, pytest) are not the run's."""

    def __init__(self, others: set[int]):
        super().__init__(logging.WARNING)
        self.others = others

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread not in self.others:
            sys.stderr.write(f"{record.getMessage()}\n")

    def show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        if threading.get_ident() not in self.others:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_in_process(argv: list[str], env: dict[str, str], *, cwd: Path, input: str | None = None) -> Result:
    """``pantry-alert ARGV`` as the console script runs it (``sys.exit(main())``), in this process.

    For the call, the process looks as a fresh one would: ``os.environ`` is ``env`` (with TZ
    applied), the working directory is ``cwd``, stdin holds ``input``, stdout and stderr are
    captured, warnings use the interpreter's default filters and go to stderr, as do records
    logged at WARNING or above.  An exception escaping ``main`` is printed and exits 1, as the
    interpreter does.
    """
    from pantry_alert.cli import main

    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = _capture("strict"), _capture("backslashreplace")
    stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    diagnostics = _Diagnostics({t.ident for t in threading.enumerate()} - {threading.get_ident()})
    root = logging.getLogger()
    try:
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = stdin, out, err
        root.addHandler(diagnostics)
        with warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in _PYTHON_WARNING_FILTERS:
                warnings.filterwarnings(action, category=category, module=module or "", append=True)
            warnings.showwarning = diagnostics.show_warning
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # the interpreter prints it and exits 1
                traceback.print_exception(exc, file=sys.stderr)
                code = 1
        if code is None:
            code = 0
        elif not isinstance(code, int):
            sys.stderr.write(f"{code}\n")
            code = 1
    finally:
        root.removeHandler(diagnostics)
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        time.tzset()
    return Result(code & 0xFF, _captured(out), _captured(err))


@pytest.fixture
def cli(tmp_path) -> Cli:
    """A Cli on a copy of the shipped rules.yaml (source.file points at the shipped sample)."""
    c = Cli(tmp_path)
    text = (
        (ROOT / "rules.yaml")
        .read_text()
        .replace("file: examples/metrics-breach.json", f"file: {ROOT / 'examples' / 'metrics-breach.json'}")
    )
    c.config.write_text(text)
    return c


def write_config(cli: Cli, rules_yaml: str) -> None:
    cli.config.write_text(rules_yaml)


SIMPLE_CONFIG = """
rules:
  - id: cpu_high
    name: CPU High
    type: performance
    severity: {severity}
    when: cpu > 90
    cooldown: {cooldown}
    channels: [console]
    description: "CPU at {{{{ cpu }}}}%"
"""


@pytest.fixture
def simple(tmp_path) -> Cli:
    """A Cli on a one-rule config (cpu > 90, high, cooldown 10m, console only)."""
    c = Cli(tmp_path)
    c.config.write_text(SIMPLE_CONFIG.format(severity="high", cooldown="10m"))
    return c


def wait_for(condition, what: str = "the condition", timeout: float = 10, *, interval: float = 0.02, retry_on=()):
    """Wait until ``condition()`` returns something true, and return it; fail the test after ``timeout``
    seconds, naming ``what`` and the last answer.  Exceptions of the classes in ``retry_on`` (a peer
    not up yet) count as a false answer.

    The one way the tests wait for something another thread or process does: polling an
    observable result, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = condition()
            if last:
                return last
        except retry_on as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def free_port() -> int:
    """A loopback TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler keeping every accepted message, each with ``.mail_from``, ``.rcpt_tos``,
    ``.tls`` (it came over TLS) and ``.authenticated``; recipients in ``refuse`` get a 550."""

    def __init__(self, refuse: set[str] | None = None):
        self.messages: list = []
        self.refuse = refuse or set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg.mail_from = envelope.mail_from
        msg.rcpt_tos = list(envelope.rcpt_tos)
        msg.tls = server.transport.get_extra_info("ssl_object") is not None
        msg.authenticated = bool(session.authenticated)
        self.messages.append(msg)
        return "250 OK"

    @property
    def subjects(self) -> list[str]:
        return [m["Subject"] for m in self.messages]


def smtp_authenticator(user: str, password: str):
    """An aiosmtpd authenticator accepting one login (handled=False: aiosmtpd sends the 235/535 reply)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == (user.encode(), password.encode())
        return AuthResult(success=ok, handled=False)

    return authenticate


# The delivery tests' peers (tests/delivery_world.py): an SMTP server and two HTTP peers for the
# session (stopping an HTTP server waits out its poll interval), reset around each test.
@pytest.fixture(scope="session")
def servers():
    from delivery_world import Servers

    s = Servers()
    yield s
    s.stop()


@pytest.fixture
def world(tmp_path, servers):
    from delivery_world import World

    servers.reset()
    yield World(tmp_path, servers)
    servers.reset()


def dump(cli: Cli) -> dict[str, list[tuple]]:
    """Every row of the tables prune touches."""
    return {t: rows(cli.db, f"SELECT * FROM {t} ORDER BY rowid") for t in ("alerts", "events", "notifications", "runs")}


def ok(result, out: str | None = None) -> None:
    """The command succeeded (its stderr shown otherwise), with exactly ``out`` on stdout when given."""
    assert result.code == 0, result.err
    if out is not None:
        assert result.out == out


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


# Stand-ins for PagerDuty, ntfy, Teams, Telegram, Discord and Apprise's JSON endpoint
# (tests/reach_world.py), for the session, reset around each test.
@pytest.fixture(scope="session")
def reach_services():
    from reach_world import Receivers

    receivers = Receivers()
    yield receivers
    receivers.stop()


@pytest.fixture
def reach(reach_services):
    reach_services.reset()
    yield reach_services
    reach_services.reset()

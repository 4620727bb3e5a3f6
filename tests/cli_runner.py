"""The command line as the tests run it: in this process as a fresh process would see it
(``Cli``, ``run_in_process``), as the installed console script (``Cli.spawn``, ``Cli.popen``) or in
one bound worker process (``BoundWorker``), and what the tests read back from a run."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
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

from samples import CHANNEL_ENV, T0

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
from cli_runner import run_in_process
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


def write_config(cli: Cli, rules_yaml: str) -> None:
    cli.config.write_text(rules_yaml)


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

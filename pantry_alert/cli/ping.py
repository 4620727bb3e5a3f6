"""``pantry-alert ping NAME``: a job reports to its heartbeat; ``ping NAME -- CMD ARGS...`` wraps it.

``ping`` runs in cron lines beside every job, so like ``check`` it has a fast
path that parses a plain command line without typer (``parse_fast``, called
from ``cli.main``).  Anything it does not recognise exactly (``--help``, a
typo, a missing value) goes to typer, which owns every usage message.
"""

import os
import sys

# option -> (parameter name, takes a value); a test compares this with the typer command.
OPTIONS = {
    "--start": ("start", False),
    "--fail": ("fail", False),
    "--exit-code": ("exit_code", True),
    "--message": ("message", True),
}
CANNOT_RUN = 127  # the exit code (and the failure ping's) for a command that cannot start
KEEP_BYTES = 64 * 1024  # of a wrapped command's output, kept to take its last lines from


def parse_fast(argv: list[str]) -> dict | None:
    """``execute``'s arguments when ``argv`` is a plain ``[globals] ping NAME [options] [-- CMD ARGS...]``
    that ``OPTIONS`` describes exactly, else None."""
    from .fast import split_globals

    found = split_globals(argv, ("ping",))
    if found is None:
        return None
    config_path, db, _debug, i = found
    options: dict = {name: (None if takes_value else False) for name, takes_value in OPTIONS.values()}
    options.update(config_path=config_path, db=db, name=None, command=None)
    rest = argv[i + 1 :]
    j = 0
    while j < len(rest):
        arg = rest[j]
        if arg == "--":
            if not rest[j + 1 :]:
                return None
            options["command"] = rest[j + 1 :]
            break
        spec = OPTIONS.get(arg)
        if spec is None:
            if arg.startswith("-") or options["name"] is not None:
                return None
            options["name"] = arg
            j += 1
            continue
        name, takes_value = spec
        if not takes_value:
            options[name] = True
            j += 1
        elif j + 1 < len(rest) and not rest[j + 1].startswith("--"):
            options[name] = rest[j + 1]
            j += 2
        else:
            return None
    if options["name"] is None:
        return None
    if options["exit_code"] is not None:
        if not options["exit_code"].isdigit():
            return None  # typer says what is wrong with it
        options["exit_code"] = int(options["exit_code"])
    return options


def execute(
    *,
    config_path: str | None,
    db: str | None,
    name: str,
    start: bool = False,
    fail: bool = False,
    exit_code: int | None = None,
    message: str | None = None,
    command: list[str] | None = None,
) -> int:
    """Record one ping (exit 0), or run ``command`` between a start and its outcome's ping."""
    from ..errors import UsageError

    if start and fail:
        raise UsageError("give --start or --fail, not both")
    if (exit_code is not None or message is not None) and not fail:
        raise UsageError("--exit-code and --message go with --fail")
    if command:
        if start or fail:
            raise UsageError("a wrapped command (after --) pings its own start and outcome: drop --start and --fail")
        return wrap(config_path, db, name, command)
    from ..pings import read_target, record_ping
    from ..timeutil import now_ms

    kind = "start" if start else "fail" if fail else "success"
    target = read_target(config_path, db, os.environ)
    record_ping(target, name, kind, now=now_ms(), exit_code=exit_code, output=message)
    return 0


def wrap(config_path: str | None, db: str | None, name: str, command: list[str]) -> int:
    """Run ``command``: its output still reaches the terminal; ping start, then success or
    failure with its exit code and its last lines of output; return its exit code.

    A ping that cannot be recorded (an unknown name, a bad config, a locked database) is a
    warning: the job runs all the same, and its exit code is what counts."""
    import subprocess

    from ..errors import PantryAlertError, StateError
    from ..pings import read_target, record_ping
    from ..timeutil import now_ms

    broken: list[str] = []  # a config or name problem: said once, not tried again
    targets: list = []

    def ping(kind: str, exit_code: int | None = None, output: str | None = None) -> None:
        if broken:
            return
        try:
            if not targets:
                targets.append(read_target(config_path, db, os.environ))
            record_ping(targets[0], name, kind, now=now_ms(), exit_code=exit_code, output=output)
        except PantryAlertError as exc:
            sys.stderr.write(f"warning: the {kind} ping of heartbeat '{name}' was not recorded: {exc.message}\n")
            if not isinstance(exc, StateError):
                broken.append(exc.message)

    ping("start")
    try:
        proc = subprocess.Popen(command, stdin=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        reason = f"cannot run {command[0]!r}: {exc.strerror or exc}"
        sys.stderr.write(f"error: {reason}\n")
        ping("fail", CANNOT_RUN, reason)
        return CANNOT_RUN
    output = _relay(proc)
    code = proc.wait()
    if code < 0:  # killed by a signal: what a shell would report
        code = 128 - code
    ping("success" if code == 0 else "fail", code, output.decode("utf-8", "replace"))
    return code


def _relay(proc) -> bytes:
    """Copy the child's stdout and stderr to ours as they come; return the end of both, in the
    order they came."""
    import selectors

    kept = bytearray()
    targets = {proc.stdout.fileno(): 1, proc.stderr.fileno(): 2}
    with selectors.DefaultSelector() as selector:
        for pipe in (proc.stdout, proc.stderr):
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            try:
                events = selector.select()
            except KeyboardInterrupt:  # Ctrl-C reached the command too: wait for it to end
                continue
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                _write_all(targets[key.fd], chunk)
                kept += chunk
                if len(kept) > KEEP_BYTES:
                    del kept[: len(kept) - KEEP_BYTES]
    return bytes(kept)


def _write_all(fd: int, data: bytes) -> None:
    """Write to our stdout or stderr; a closed one does not stop the job."""
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


def register(app) -> None:
    """Add the typer ``ping`` command to ``app`` (for --help and usage errors)."""
    from typing import Annotated, Optional

    import typer

    from .common import get_globals

    @app.command()
    def ping(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(metavar="NAME", help="the heartbeat, as named under heartbeats:")],
        command: Annotated[
            Optional[list[str]],
            typer.Argument(
                metavar="CMD", help="after --: run this command (with its arguments) and ping its start and outcome"
            ),
        ] = None,
        start: Annotated[bool, typer.Option("--start", help="the job started")] = False,
        fail: Annotated[bool, typer.Option("--fail", help="the job failed")] = False,
        exit_code: Annotated[
            Optional[int],
            typer.Option("--exit-code", metavar="N", min=0, max=255, help="with --fail: the job's exit code"),
        ] = None,
        message: Annotated[
            Optional[str], typer.Option("--message", metavar="TEXT", help="with --fail: what went wrong")
        ] = None,
    ) -> None:
        """Report to a heartbeat: success (default), --start or --fail; or wrap a command."""
        g = get_globals(ctx)
        code = execute(
            config_path=g.config_path,
            db=g.db,
            name=name,
            start=start,
            fail=fail,
            exit_code=exit_code,
            message=message,
            command=command,
        )
        if code:
            raise typer.Exit(code)

"""The command line: glue between typer and the library.

Errors are mapped to exit codes in one place (``main``).  Heavy modules are
imported inside the commands that need them.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from .. import __version__
from .common import Globals

app = typer.Typer(
    name="pantry-alert",
    help="Threshold alerting for one web application, run from cron or a systemd timer.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"pantry-alert {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[Optional[str], typer.Option("--config", envvar="PANTRY_ALERT_CONFIG", metavar="PATH",
                                                  help="rules.yaml to use [default: ./rules.yaml]")] = None,
    db: Annotated[Optional[str], typer.Option("--db", envvar="PANTRY_ALERT_DB", metavar="PATH",
                                              help="state database [default: state.path, else $XDG_STATE_HOME/pantry-alert/state.db]")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    ctx.obj = Globals(config_path=config or None, db=db or None, debug=debug)


from . import alerts, check, lifecycle, rules  # noqa: E402  (register the commands)

app.add_typer(rules.app, name="rules")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the app, map every error to its exit code."""
    import click

    from ..errors import ConfigError, PantryAlertError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="pantry-alert", standalone_mode=False)
    except PantryAlertError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"error: {exc.message}\n")
        if isinstance(exc, ConfigError):
            for problem in exc.problems:
                sys.stderr.write(f"  {problem}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {exc.hint}\n")
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        code = 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = 130
    except Exception as exc:  # a bug: say so plainly, traceback only with --debug
        if debug:
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc}\n"
                         "hint: run again with --debug for a traceback, and report it\n")
        code = 70
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return code if isinstance(code, int) else 0


def run() -> None:
    sys.exit(main())

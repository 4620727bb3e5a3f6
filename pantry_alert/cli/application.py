"""The typer application: global options and command registration."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import __version__
from .common import Globals

app = typer.Typer(
    name="pantry-alert",
    help="Threshold alerting for one web application, run from cron or a systemd timer.",
    add_completion=True,
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
    config: Annotated[
        Optional[str],
        typer.Option(
            "--config", envvar="PANTRY_ALERT_CONFIG", metavar="PATH", help="rules.yaml to use [default: ./rules.yaml]"
        ),
    ] = None,
    db: Annotated[
        Optional[str],
        typer.Option(
            "--db",
            envvar="PANTRY_ALERT_DB",
            metavar="PATH",
            help="state database [default: state.path, else $XDG_STATE_HOME/pantry-alert/state.db]",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    ctx.obj = Globals(config_path=config or None, db=db or None, debug=debug)
    if ctx.invoked_subcommand is not None and not ctx.resilient_parsing:
        from ..timeutil import now_ms

        now_ms()  # every command refuses a bad PANTRY_ALERT_NOW the same way (exit 2), used or not


from . import check, heartbeats, ping  # noqa: E402

check.register(app)
ping.register(app)
heartbeats.register(app)
from . import actions, alerts, audit, history, notify_test, prune, reviews, rules, silence, stats, token  # noqa: E402,F401  (importing registers the commands)

app.add_typer(rules.app, name="rules")
app.add_typer(silence.app, name="silence")
app.add_typer(token.app, name="token")

from . import serve  # noqa: E402,F401  (the HTTP API; starlette and uvicorn load only when it runs)


def _evaluate_annotations(typer_app: typer.Typer) -> None:
    """Turn each command's annotations (strings, under ``from __future__ import annotations``)
    into the objects they name, once: typer would otherwise evaluate every one of them twice
    per run, ``--help`` included (~10 ms for these commands)."""
    import typing

    infos = [*typer_app.registered_commands, typer_app.registered_callback]
    for info in infos:
        if info is not None and info.callback is not None:
            info.callback.__annotations__ = typing.get_type_hints(info.callback, include_extras=True)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _evaluate_annotations(group.typer_instance)


_evaluate_annotations(app)

"""``pantry-alert check``: one evaluation run.

``execute`` is the body shared by the typer command and the fast path in
``cli.__init__`` (which runs a plain cron ``check`` without importing typer).
"""

import sys

from .common import Globals, SafeOut, choice, json_text, warn

# Exit codes of a run's outcomes (see the runner's CheckResult.outcome).
OUTCOME_EXIT_CODES = {"ok": 0, "attention": 1, "source_failure": 3, "fail_on": 5}

# The options of ``check``, for the fast path that parses a cron line without typer:
# option -> (parameter name, takes a value).  A test compares this with the typer command.
OPTIONS = {
    "--metrics-file": ("metrics_file", True),
    "--metrics-url": ("metrics_url", True),
    "--fail-on": ("fail_on", True),
    "--dry-run": ("dry_run", False),
    "--json": ("as_json", False),
}

_VERBS = (("fired", "FIRED"), ("escalated", "ESCALATED"), ("reminded", "REMINDED"), ("resolved", "RESOLVED"))


def exit_code(result) -> int:
    return OUTCOME_EXIT_CODES[result.outcome]


def parse_fast(argv: list[str]) -> tuple[Globals, dict] | None:
    """(globals, options) when ``argv`` is a plain ``[--config X] [--db X] [--debug] check [options]``
    that ``OPTIONS`` describes exactly, else None (typer then parses it and owns every message)."""
    import os

    g = Globals(config_path=os.environ.get("PANTRY_ALERT_CONFIG") or None, db=os.environ.get("PANTRY_ALERT_DB") or None)
    i = 0
    while i < len(argv) and argv[i] != "check":
        if argv[i] in ("--config", "--db") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            if argv[i] == "--config":
                g = Globals(config_path=argv[i + 1] or None, db=g.db, debug=g.debug)
            else:
                g = Globals(config_path=g.config_path, db=argv[i + 1] or None, debug=g.debug)
            i += 2
        elif argv[i] == "--debug":
            g = Globals(config_path=g.config_path, db=g.db, debug=True)
            i += 1
        else:
            return None
    if i == len(argv):
        return None
    options: dict = {name: (None if takes_value else False) for name, takes_value in OPTIONS.values()}
    rest = argv[i + 1 :]
    j = 0
    while j < len(rest):
        spec = OPTIONS.get(rest[j])
        if spec is None:
            return None
        name, takes_value = spec
        if not takes_value:
            options[name] = True
            j += 1
        elif j + 1 < len(rest) and (rest[j + 1] == "-" or not rest[j + 1].startswith("-")):
            options[name] = rest[j + 1]
            j += 2
        else:
            return None
    return g, options


def execute(
    g: Globals,
    *,
    metrics_file: str | None = None,
    metrics_url: str | None = None,
    dry_run: bool = False,
    fail_on: str | None = None,
    as_json: bool = False,
) -> int:
    """Run one check and print its outcome; return the exit code."""
    from ..config import SEVERITIES
    from ..errors import UsageError
    from ..runner import run_check
    from ..text import printable

    choice(fail_on, SEVERITIES, "--fail-on")
    if metrics_file and metrics_url:
        raise UsageError("give --metrics-file or --metrics-url, not both")
    config = g.config()
    prefix = "would be " if dry_run else ""
    out = SafeOut()  # a closed or broken stdout must not stop delivery

    def report_changes(plan, alerts) -> None:
        """Printed after the commit, before the sends: one line per changed alert."""
        if as_json:
            return
        for key, verb in _VERBS:
            for alert_id in getattr(plan, key):
                if key == "reminded" and alert_id in plan.escalated:
                    continue
                alert = alerts[alert_id]
                muted = (
                    " (silenced: not notified)"
                    if alert.silenced
                    else " (inhibited: not notified)"
                    if alert.inhibited
                    else ""
                )
                out.write(
                    f"{prefix}{verb:<9} {alert.id} [{alert.severity}] "
                    f"{printable(alert.title)}: {printable(alert.description)}{muted}\n"
                )
        out.flush()

    result = run_check(
        config,
        g.db_path(),
        g.now(),
        metrics_file=metrics_file,
        metrics_url=metrics_url,
        dry_run=dry_run,
        fail_on=fail_on,
        console_stream=sys.stderr if as_json else None,
        on_planned=report_changes,
        exit_code=exit_code,
    )

    plan = result.plan
    if result.source_error:
        sys.stderr.write(f"error: {result.source_error}\n")
    for error in plan.errors:
        warn(f"rule '{error['rule']}' could not be evaluated: {printable(error['error'])}")
    for warning in plan.warnings:
        warn(f"rule '{warning['rule']}': {printable(warning['error'])}")
    for channel in dict.fromkeys(plan.skipped):
        warn(
            f"channel '{channel}' is not configured: {plan.skipped.count(channel)} notification(s) recorded as "
            f"skipped (configure channels.{channel} in rules.yaml or its environment variables)"
        )
    for channel, count in result.report.waiting.items():
        warn(f"{count} notification(s) for channel '{channel}' wait: the channel is not configured in this run")
    if result.report.left:
        warn(
            f"delivery budget of {result.report.budget_s:g}s spent: {result.report.left} notification(s) left "
            "pending for the next run (state.delivery_budget)"
        )
    for failure in result.report.failures:
        state = "gave up" if failure.final else "will retry"
        warn(
            f"alert {failure.alert_id}: {failure.kind} notification to {failure.channel} failed ({state}): "
            f"{printable(failure.error)}"
        )
    for outcome in result.sync:
        for text in outcome.warnings():
            warn(text)
        if not outcome.ok:
            warn(
                f"{outcome.channel}: no URL accepted the state of {outcome.alerts} alert(s); "
                "the next run sends it again"
            )
    if as_json:
        out.write(json_text(result.summary()))
    elif dry_run:
        pending = sum(1 for i in plan.intents if i.status == "pending")
        out.write(f"dry run: nothing written, {pending} notification(s) not sent\n")
    out.report()
    if result.fail_on_hit and not as_json:
        sys.stderr.write(f"--fail-on {fail_on}: active alerts at or above {fail_on}: {', '.join(result.fail_on_hit)}\n")
    return exit_code(result)


def register(app) -> None:
    """Add the typer ``check`` command to ``app`` (typer is imported only here)."""
    from typing import Annotated, Optional

    import typer

    from .common import get_globals

    @app.command()
    def check(
        ctx: typer.Context,
        metrics_file: Annotated[
            Optional[str],
            typer.Option("--metrics-file", metavar="PATH|-", help="read metrics from a file ('-' = stdin)"),
        ] = None,
        metrics_url: Annotated[
            Optional[str], typer.Option("--metrics-url", metavar="URL", help="fetch metrics from a URL")
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="evaluate and show; write nothing, send nothing")
        ] = False,
        fail_on: Annotated[
            Optional[str],
            typer.Option(
                "--fail-on", metavar="SEVERITY", help="exit 5 when an active alert at or above SEVERITY exists"
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print a JSON run summary")] = False,
    ) -> None:
        """Evaluate every rule once, update alert state, send notifications."""
        code = execute(
            get_globals(ctx),
            metrics_file=metrics_file,
            metrics_url=metrics_url,
            dry_run=dry_run,
            fail_on=fail_on,
            as_json=as_json,
        )
        if code:
            raise typer.Exit(code)

"""``pantry-alert check``: one evaluation run.

``execute`` is the body shared by the typer command and the fast path
(``cli.fast``, which runs a plain cron ``check`` without importing typer).
"""

import sys

from .common import Globals, SafeOut, choice, json_text, warn

# Exit codes of a run's outcomes (see the runner's CheckResult.outcome).
OUTCOME_EXIT_CODES = {"ok": 0, "attention": 1, "source_failure": 3, "fail_on": 5}

# The options of ``check``, for the fast path (``cli.fast``) that parses a cron line without typer:
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

    choice(fail_on, SEVERITIES, "--fail-on")
    if metrics_file and metrics_url:
        raise UsageError("give --metrics-file or --metrics-url, not both")
    config = g.config()
    out = SafeOut()  # a closed or broken stdout must not stop delivery
    result = run_check(
        config,
        g.db_path(),
        g.now(),
        metrics_file=metrics_file,
        metrics_url=metrics_url,
        dry_run=dry_run,
        fail_on=fail_on,
        console_stream=sys.stderr if as_json else None,
        on_planned=None if as_json else _change_lines(out, "would be " if dry_run else ""),
        exit_code=exit_code,
    )
    if result.source_error:
        sys.stderr.write(f"error: {result.source_error}\n")
    _warn_plan(result.plan)
    _warn_delivery(result)
    if as_json:
        out.write(json_text(result.summary()))
    elif dry_run:
        pending = sum(1 for i in result.plan.intents if i.status == "pending")
        out.write(f"dry run: nothing written, {pending} notification(s) not sent\n")
    out.report()
    if result.fail_on_hit and not as_json:
        sys.stderr.write(f"--fail-on {fail_on}: active alerts at or above {fail_on}: {', '.join(result.fail_on_hit)}\n")
    return exit_code(result)


def _change_lines(out: SafeOut, prefix: str):
    """What the run calls after the commit, before the sends: print one line per changed alert."""
    from ..text import printable

    def report_changes(plan, alerts) -> None:
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

    return report_changes


def _warn_plan(plan) -> None:
    """Rules that could not be evaluated or rendered, and notices for channels not configured."""
    from ..text import printable

    for error in plan.errors:
        warn(f"rule '{error['rule']}' could not be evaluated: {printable(error['error'])}")
    for warning in plan.warnings:
        warn(f"rule '{warning['rule']}': {printable(warning['error'])}")
    for channel in dict.fromkeys(plan.skipped):
        warn(
            f"channel '{channel}' is not configured: {plan.skipped.count(channel)} notification(s) recorded as "
            f"skipped (configure channels.{channel} in rules.yaml or its environment variables)"
        )


def _warn_delivery(result) -> None:
    """What delivery and synchronisation left undone."""
    from ..text import printable

    report = result.report
    for channel, count in report.waiting.items():
        warn(f"{count} notification(s) for channel '{channel}' wait: the channel is not configured in this run")
    if report.left:
        warn(
            f"delivery budget of {report.budget_s:g}s spent: {report.left} notification(s) left "
            "pending for the next run (state.delivery_budget)"
        )
    for failure in report.failures:
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

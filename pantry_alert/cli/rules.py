"""``pantry-alert rules list | validate | test | add | update``."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from .common import console, escape, get_globals, print_json
from .completion import rule_ids

app = typer.Typer(help="Inspect, validate, try out and edit the rules.", no_args_is_help=True)


@app.command("list")
def list_rules(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array of rules")] = False,
) -> None:
    """The rules as loaded, with their channels and whether each is configured."""
    from ..notify import channel_status

    config = get_globals(ctx).config()
    if as_json:
        from ..views import rules_json

        print_json(rules_json(config))
        return
    status = channel_status(config)
    described = _channel_lines(config)
    out = console()
    out.print(f"{len(config.rules)} rule(s) from {escape(str(config.path))}")
    for rule in config.rules:
        out.print()
        state = "" if rule.enabled else " (disabled)"
        out.print(
            f"[bold]{rule.id}[/]{state}  {escape(rule.name)}  {escape(f'[{rule.severity}, {rule.type}]')}",
            soft_wrap=True,
        )
        assert rule.when is not None  # only the built-in source rule has no condition, and it is not listed
        out.print(f"  when      {escape(rule.when.source)}", soft_wrap=True)
        out.print(f"  cooldown  {rule.to_json()['cooldown']}")
        out.print("  channels")
        for channel in rule.channels:
            what = described.get(channel) if status[channel] == "configured" else status[channel]
            if status[channel] == "invalid":
                what = "invalid (see: pantry-alert rules validate)"
            out.print(f"    {channel:<8} {escape(what or '')}", soft_wrap=True)


def _channel_lines(config) -> dict[str, str]:
    """name -> one secret-free line saying where a configured channel sends."""
    from ..notify import channel_settings

    out = {}
    for name in {c for rule in config.rules for c in rule.channels}:
        try:
            settings = channel_settings(config, name)
        except Exception:  # shown as "invalid" by channel_status
            continue
        if settings is not None:
            out[name] = getattr(settings, "describe", lambda n=name: n)()
    return out


@app.command()
def validate(ctx: typer.Context) -> None:
    """Check the config: exit 0 valid, 2 invalid, 1 valid with warnings (a route to an unconfigured
    channel, a template variable that no metric provides)."""
    from ..config.variables import template_warnings
    from ..notify import configured_channels

    g = get_globals(ctx)
    config = g.config(check_templates=True)
    configured = configured_channels(config)
    _check_rendering(config, configured, g.now())
    rules = config.rules + [hb.rule for hb in config.heartbeats]  # a heartbeat's alert rule routes too
    unrouted = [(rule.id, channel) for rule in rules for channel in rule.channels if channel not in configured]
    for channel in config.escalation.add_channels:
        if channel not in configured:  # a warning only: escalations still reach the alert's own channels
            sys.stderr.write(
                f"warning: {config.path}: escalation.add_channels names '{channel}', which is not "
                "configured; escalated alerts will record it as skipped\n"
            )
    for severity, channels in config.routes.items():
        for channel in channels:
            if channel not in configured:  # a warning only, as for escalation channels
                sys.stderr.write(
                    f"warning: {config.path}: routes.{severity} names '{channel}', which is not configured; "
                    f"{severity} alerts will record it as skipped\n"
                )
    for name, steps in config.escalation_policies.items():
        for number, step in enumerate(steps, 1):
            for channel in step.channels:
                if channel not in configured:  # a warning only, as for routes
                    sys.stderr.write(
                        f"warning: {config.path}: escalation_policies.{name} step {number} names '{channel}', "
                        "which is not configured; that step will record it as skipped\n"
                    )
    _say_database(g)
    for rule_id, channel in unrouted:
        sys.stderr.write(
            f"warning: {config.path}: rule '{rule_id}' routes to channel '{channel}', "
            "which is not configured (set its channels: section or its environment variables)"
            f"{_near_misses(channel, g.workspace.env)}\n"
        )
    unprovided = template_warnings(config)
    for line in unprovided:
        sys.stderr.write(f"warning: {line}\n")
    buts = [f"{len(unrouted)} route(s) to unconfigured channels"] if unrouted else []
    if unprovided:
        buts.append(f"{len(unprovided)} template variable(s) that no metric provides")
    if buts:
        sys.stdout.write(f"{config.path}: valid ({_counts(config)}), but {' and '.join(buts)}\n")
        raise typer.Exit(1)
    sys.stdout.write(f"{config.path}: valid ({_counts(config)})\n")


def _counts(config) -> str:
    heartbeats = f", {len(config.heartbeats)} heartbeats" if config.heartbeats else ""
    return f"{len(config.rules)} rules{heartbeats}"


# Names people write for a channel's variables (what other tools call them).
_USUAL_MISTAKES = {
    "SMTP_SERVER": "SMTP_HOST",
    "SMTP_HOSTNAME": "SMTP_HOST",
    "SMTP_USERNAME": "SMTP_USER",
    "SMTP_PASSWORD": "SMTP_PASS",
    "SLACK_TOKEN": "SLACK_BOT_TOKEN",
    "SLACK_CHANNEL": "SLACK_ALERT_CHANNEL",
    "WEBHOOK_URL": "ALERT_WEBHOOK_URL",
    "WEBHOOK_TOKEN": "ALERT_WEBHOOK_TOKEN",
    "ALERTMANAGER_URL": "ALERTMANAGER_URLS",
}


def _near_misses(channel: str, env) -> str:
    """A did-you-mean for set variables that are almost the channel's (``SMTP_SERVER`` for
    ``SMTP_HOST``, ``SLACK_TOKEN`` for ``SLACK_BOT_TOKEN``, ``WEBHOOK_URL`` for ``ALERT_WEBHOOK_URL``)."""
    import difflib

    from ..notify.registry import capabilities

    wanted = tuple(capabilities(channel).env)
    found = []
    for name in sorted(env):
        if name in wanted or not env.get(name):
            continue
        usual = _USUAL_MISTAKES.get(name)
        close = [usual] if usual in wanted else difflib.get_close_matches(name, wanted, n=1, cutoff=0.7)
        if close:
            found.append(f"{name} is set: did you mean {close[0]}?")
    return ("; " + "; ".join(found)) if found else ""


def _say_database(g) -> None:
    """Which state database the other commands would use with this config (the usual
    surprise on a server: root's ~/.local/state instead of /var/lib/pantry-alert)."""
    from ..errors import PantryAlertError

    try:
        where = str(g.workspace.db_path())
    except PantryAlertError as exc:
        where = f"unusable ({exc.message})"
    sys.stderr.write(f"state database: {where}\n")


def _check_rendering(config, configured: dict, now: int) -> None:
    """Render each configured channel's templates (the webhook's ``body``) with a sample alert;
    a failure is a configuration error at the setting's line."""
    from ..config.checks import Problems
    from ..errors import ConfigError
    from ..notify import channel_module
    from ..notify.messages import make_message
    from .notify_test import test_alert

    problems = []
    for name, settings in configured.items():
        check = getattr(channel_module(name), "check_settings", None)
        problem = check(settings, make_message(config, test_alert(now), "firing", "validate", now)) if check else None
        if problem:
            key, _, text = problem.partition(": ")
            problems.append(
                Problems(config.path, config.path.read_text(encoding="utf-8")).format(("channels", name, key), text)
            )
    if problems:
        raise ConfigError(
            f"{config.path}: {len(problems)} channel template problem{'s' if len(problems) > 1 else ''}",
            hint="fix them and check with: pantry-alert rules validate",
            problems=problems,
        )


def _number(value) -> str:
    if value is None:
        return ""
    try:
        return f"{value:g}"
    except (OverflowError, ValueError):  # an integer too large for a float
        return _huge(value)


def _huge(value: int) -> str:
    """An integer too large for a float (or for ``str``, past 4,300 digits), shortened."""
    digits = int(abs(value).bit_length() * 0.30103) + 1  # about; exact below the conversion limit
    try:
        text = str(value)
    except ValueError:
        return f"{'-' if value < 0 else ''}about 10^{digits - 1} ({digits} digits)"
    return text if len(text) <= 20 else f"{text[:6]}…({len(text)} digits)"


def _json_value(value):
    """A verdict's value as JSON can carry it: integers beyond a float's range become a short string."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**1023:
        return _huge(value)
    return value


@app.command("test")
def test_rules(
    ctx: typer.Context,
    metrics_file: Annotated[
        Optional[str],
        typer.Option("--metrics-file", metavar="PATH|-", help="read the metrics from a file (- for stdin)"),
    ] = None,
    metrics_url: Annotated[
        Optional[str], typer.Option("--metrics-url", metavar="URL", help="fetch the metrics from this URL")
    ] = None,
    cases: Annotated[
        Optional[str],
        typer.Option("--cases", metavar="CASES.yaml", help="run rule unit tests (timed metrics and expectations)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdicts (or the case results) as JSON")] = False,
) -> None:
    """Evaluate every rule on one metrics snapshot, or run rule unit tests (--cases); touches no state, sends nothing."""
    if cases is not None:
        if metrics_file or metrics_url:
            from ..errors import UsageError

            raise UsageError("--cases brings its own metrics; leave out --metrics-file and --metrics-url")
        _run_cases(ctx, cases, as_json)
        return
    from .. import metrics as metrics_mod
    from ..planning import verdicts

    config = get_globals(ctx).config()
    document = metrics_mod.read(file=metrics_file, url=metrics_url, source=config.source, base_dir=config.path.parent)
    results: list[dict[str, Any]] = []
    for verdict in verdicts(config, document):
        results.append(
            {
                "rule": verdict.rule_id,
                "verdict": verdict.outcome + ("" if verdict.enabled else " (disabled)"),
                "value": _json_value(verdict.value),
                "description": verdict.description,
                "error": verdict.error,
            }
        )
    code = 1 if any(entry["error"] for entry in results) else 0
    if as_json:
        print_json({"results": results})
    else:
        from rich.table import Table

        table = Table(title="Rule verdicts", title_justify="left")
        for column in ("Rule", "Verdict", "Value", "Description"):
            table.add_column(column, overflow="fold")
        from .common import escape

        for entry in results:
            table.add_row(
                entry["rule"],
                entry["verdict"],
                entry["value"] if isinstance(entry["value"], str) else _number(entry["value"]),
                escape(entry["description"] or entry["error"] or ""),
            )
        console().print(table)
        from ..text import printable

        for entry in results:
            if entry["error"]:
                sys.stderr.write(f"warning: rule '{entry['rule']}': {printable(entry['error'])}\n")
    if code:
        raise typer.Exit(code)


def _run_cases(ctx: typer.Context, path: str, as_json: bool) -> None:
    """``rules test --cases``: PASS/FAIL per test, a diff per failed expectation; exit 1 when any fails."""
    from .. import cases

    results = cases.run(get_globals(ctx).config(check_templates=True), path)
    failed = [r for r in results if not r.passed]
    if as_json:
        print_json({"passed": not failed, "tests": [r.to_json() for r in results]})
    else:
        out = sys.stdout
        for result in results:
            out.write(f"{'PASS' if result.passed else 'FAIL'}  {result.name}\n")
            for failure in result.failures:
                out.write(f"      at {failure.at}: {failure.what} (- expected, + got)\n")
                for line in failure.diff() or ["  (no difference in items, only in count)"]:
                    out.write(f"        {line}\n")
        count = len(results)
        out.write(f"{count} test{'s' if count != 1 else ''}: {count - len(failed)} passed, {len(failed)} failed\n")
    if failed:
        raise typer.Exit(1)


def _read_rule_file(path: str) -> dict:
    """One rule from a YAML (or JSON) file: a mapping, or a list holding exactly one.

    Read as the config is: a regular file (or ``-``) within the size limit, the
    same alias and depth limits."""
    from ..config import parse_yaml, read_limited
    from ..errors import ConfigError

    data = parse_yaml(read_limited(path, "rule file"), "standard input" if path == "-" else path)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if isinstance(data, dict) and set(data) == {"rule"} and isinstance(data["rule"], dict):
        data = data["rule"]  # the API's {"rule": {...}} body
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must hold one rule (a mapping with the rules.yaml keys: id, name, type, ...)")
    return data


@app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[str, typer.Option("--file", metavar="RULE.yaml", help="the rule to add (- for stdin)")],
) -> None:
    """Add a rule to rules.yaml, keeping its comments and layout; an invalid rule changes nothing."""
    from ..rules_edit import add_rule

    add_rule(get_globals(ctx).workspace, _read_rule_file(file))
    sys.stdout.write("Alert rule created\n")


@app.command("update")
def update(
    ctx: typer.Context,
    rule_id: Annotated[str, typer.Argument(metavar="RULE_ID", autocompletion=rule_ids)],
    file: Annotated[
        str,
        typer.Option(
            "--file",
            metavar="RULE.yaml",
            help="the keys to change (- for stdin); a key set to null is removed, others stay",
        ),
    ],
) -> None:
    """Change a rule in rules.yaml, keeping its comments and layout; an invalid change changes nothing."""
    from ..rules_edit import update_rule

    update_rule(get_globals(ctx).workspace, rule_id, _read_rule_file(file))
    sys.stdout.write("Alert rule updated\n")

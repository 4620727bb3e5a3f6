"""``pantry-alert --help`` as typer prints it on a terminal of 80 columns or more (or no terminal).

Kept here so that a bare ``--help`` answers without importing typer, which alone costs more than
a quiet check.  ``tests/test_cli_fast_path.py`` compares it with typer's; after adding or changing
a command or a global option, regenerate it with ``python -m pantry_alert.cli.help_text``.
"""

TEXT = "Usage: pantry-alert [OPTIONS] COMMAND [ARGS]...\n\n  Threshold alerting for one web application, run from cron or a systemd\n  timer.\n\nOptions:\n  --config PATH         rules.yaml to use [default: ./rules.yaml]  [env var:\n                        PANTRY_ALERT_CONFIG]\n  --db PATH             state database [default: state.path, else\n                        $XDG_STATE_HOME/pantry-alert/state.db]  [env var:\n                        PANTRY_ALERT_DB]\n  --debug               show tracebacks\n  --version             print the version and exit\n  --install-completion  Install completion for the current shell.\n  --show-completion     Show completion for the current shell, to copy it or\n                        customize the installation.\n  --help                Show this message and exit.\n\nCommands:\n  check        Evaluate every rule once, update alert state, send...\n  ping         Report to a heartbeat: success (default), --start or...\n  heartbeats   The heartbeats: state (new, up, running, late, failed),...\n  ack          Acknowledge an alert: no more reminders or escalation for...\n  resolve      Resolve an alert by hand; its resolved notifications go...\n  note         Add a note to an alert's timeline (resolved alerts too).\n  list         Active (unresolved) alerts, newest first.\n  history      All alerts, resolved ones included, newest first.\n  show         One alert with its timeline of events and its notification...\n  audit        The audit log: every human action (acknowledge, resolve,...\n  metrics      Chart one metric's stored samples with min, max and last...\n  test-notify  Send a clearly marked test notification through one...\n  prune        Delete old resolved alerts with their events and...\n  review       The post-incident review of an alert: summary, key times,...\n  report       The noise report: per rule, alerts, notices, after-hours...\n  stats        Statistics over the alerts fired in a window: counts, time...\n  serve        Run the HTTP API, the web console and Slack's Acknowledge...\n  rules        Inspect, validate, try out and edit the rules.\n  silence      Mute a rule's notifications for a while (amtool's verbs).\n  token        Scoped tokens for the HTTP API and the web console.\n"


def render() -> str:
    """The top-level help that typer prints at 80 columns."""
    import contextlib
    import io
    import os

    from . import _typer_main

    out = io.StringIO()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"
    try:
        with contextlib.redirect_stdout(out):
            _typer_main(["--help"])
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return out.getvalue()


if __name__ == "__main__":
    from pathlib import Path

    path = Path(__file__)
    source = path.read_text()
    start = source.index("\nTEXT = ") + 1
    end = source.index("\n\n\ndef render()")
    path.write_text(f"{source[:start]}TEXT = {render()!r}{source[end:]}")

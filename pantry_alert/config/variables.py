"""Description templates checked against the variables they will have (``rules validate``).

A template reads the metrics document's top-level names, plus ``rule`` and
``value``.  A name that nothing provides fails at render time, in the middle
of an incident, so ``rules validate`` warns about it beforehand, with its file
and line and a did-you-mean (``errRate`` for ``errorRate``).

What the metrics provide is known without a network call when the config
reads a local file (``source.file``) or Prometheus queries (their paths);
otherwise each rule's template is checked against the metrics its own
``when`` reads.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ExpressionError, PantryAlertError
from .checks import Problems

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from .model import Config

TEMPLATE_VARIABLES = ("rule", "value")  # what every template has besides the metrics


def metric_names(config: Config) -> tuple[frozenset[str], str] | None:
    """The top-level names the metrics will have and where that is known from, when the
    config says so without a network call; None otherwise (or when the file cannot be read)."""
    source = config.source
    if source.prometheus is not None:
        return frozenset(path.split(".")[0] for path in source.prometheus.queries), "source.prometheus.queries"
    if source.file and not source.url:
        from ..metrics import read_file

        path = Path(source.file)
        if not path.is_absolute():
            path = config.path.parent / path
        try:
            document = read_file(str(path), source.path)
        except PantryAlertError:
            return None
        return frozenset(document), f"the metrics file {source.file}"
    return None


def template_warnings(config: Config) -> list[str]:
    """One line per variable that a rule's description reads and nothing provides:
    ``file:line: rule 'id': rules.N.description: ...``."""
    from ..templates import names_read

    known = metric_names(config)
    found: list[tuple[tuple, str, str]] = []
    for index, rule in enumerate(config.rules):
        if not rule.description or "{" not in rule.description:
            continue
        try:
            names = names_read(rule.description)
        except ExpressionError:  # reported as a configuration problem already
            continue
        own = frozenset(path.split(".")[0] for path in (rule.when.paths if rule.when is not None else ()))
        offered = (known[0] if known else frozenset()) | own | frozenset(TEMPLATE_VARIABLES)
        for name in sorted(names - offered):
            if known:
                what = f"which {known[1]} does not provide"
            else:
                what = "which is neither a metric its 'when' reads nor a template variable (rule, value)"
            found.append(
                (
                    ("rules", index, "description"),
                    rule.id,
                    f"the template reads '{name}', {what}" + _close(name, offered),
                )
            )
    if not found:
        return []
    try:
        text = config.path.read_text(encoding="utf-8")
    except (OSError, UnicodeError):
        text = ""
    problems = Problems(config.path, text)
    return [problems.format(keys, message, rule_id) for keys, rule_id, message in found]


def _close(name: str, offered: frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(offered), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""

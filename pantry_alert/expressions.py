"""Safe ``when`` conditions and sandboxed Jinja2 descriptions.

Conditions are parsed with :mod:`ast` and compiled once into closures over a
whitelist of node types: numbers, dotted metric paths, ``+ - * / %``,
comparisons, ``and or not`` and the calls ``abs min max``.  Nothing is ever
passed to ``eval``.  Evaluation is strict: every operand is evaluated (no
short-circuit rescue), and a missing or non-numeric metric or a division by
zero makes the whole condition unevaluable.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_CMPOPS = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FUNCS = {"abs": abs, "min": min, "max": max}
MAX_EXPRESSION_LENGTH = 2000


class ExpressionError(ValueError):
    """The expression is malformed or uses a forbidden construct."""


class Unevaluable(Exception):
    """The condition cannot be evaluated on this document (missing metric, ...)."""


def _missing(path: str) -> Unevaluable:
    return Unevaluable(f"metric '{path}' is missing from the metrics document")


def lookup(doc: dict, path: str) -> float:
    """The number at a dotted path, or ``Unevaluable``."""
    node: Any = doc
    for segment in path.split("."):
        if not isinstance(node, dict) or segment not in node:
            raise _missing(path)
        node = node[segment]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise Unevaluable(f"metric '{path}' is not a number (got {type(node).__name__}: {str(node)[:40]!r})")
    if isinstance(node, float) and not math.isfinite(node):
        raise Unevaluable(f"metric '{path}' is not a finite number")
    return node


Evaluator = Callable[[dict, dict], Any]  # (metrics, read-values) -> value


@dataclass
class Condition:
    source: str
    paths: list[str]
    _root: Evaluator = field(repr=False)
    _lhs: Evaluator | None = field(repr=False, default=None)

    def evaluate(self, metrics: dict) -> tuple[bool, dict[str, float], float | None]:
        """Return (holds, values read by path, value of the top-level comparison's left side)."""
        read: dict[str, float] = {}
        try:
            result = self._root(metrics, read)
            value = self._lhs(metrics, read) if self._lhs is not None else None
        except ZeroDivisionError:
            raise Unevaluable(f"division by zero in '{self.source}'") from None
        except (TypeError, OverflowError) as exc:
            raise Unevaluable(f"cannot evaluate '{self.source}': {exc}") from None
        return bool(result), read, value


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise ExpressionError("attribute access is only allowed on metric paths (like memoryUsage.current.heapUsed)")
    parts.append(node.id)
    path = ".".join(reversed(parts))
    for segment in parts:
        if segment.startswith("_"):
            raise ExpressionError(f"path segment '{segment}' in '{path}' begins with '_', which is not allowed")
    return path


def _compile(node: ast.AST, paths: list[str]) -> Evaluator:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
        const = node.value
        return lambda m, r: const
    if isinstance(node, (ast.Name, ast.Attribute)):
        path = _dotted(node)
        if path in _FUNCS:
            raise ExpressionError(f"'{path}' is a function; call it like {path}(a, b)")
        paths.append(path)

        def read(m, r, path=path):
            value = lookup(m, path)
            r[path] = value
            return value

        return read
    if isinstance(node, ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator '{type(node.op).__name__}' is not allowed (use + - * / %)")
        left, right = _compile(node.left, paths), _compile(node.right, paths)
        return lambda m, r: op(left(m, r), right(m, r))
    if isinstance(node, ast.UnaryOp):
        operand = _compile(node.operand, paths)
        if isinstance(node.op, ast.Not):
            return lambda m, r: not operand(m, r)
        if isinstance(node.op, ast.USub):
            return lambda m, r: -operand(m, r)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise ExpressionError(f"operator '{type(node.op).__name__}' is not allowed")
    if isinstance(node, ast.BoolOp):
        values = [_compile(v, paths) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda m, r: all([v(m, r) for v in values])  # strict: evaluate all
        return lambda m, r: any([v(m, r) for v in values])
    if isinstance(node, ast.Compare):
        left = _compile(node.left, paths)
        ops = []
        for op_node, comparator in zip(node.ops, node.comparators, strict=True):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                raise ExpressionError(f"comparison '{type(op_node).__name__}' is not allowed (use < <= > >= == !=)")
            ops.append((op, _compile(comparator, paths)))

        def compare(m, r):
            current = left(m, r)
            operands = [(op, right(m, r)) for op, right in ops]
            result = True
            for op, value in operands:
                result = result and op(current, value)
                current = value
            return result

        return compare
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS:
            raise ExpressionError("only the functions abs, min and max may be called")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or not node.args:
            raise ExpressionError(f"call {node.func.id}() with plain positional arguments")
        func = _FUNCS[node.func.id]
        if func is abs and len(node.args) != 1:
            raise ExpressionError("abs() takes exactly one argument")
        if func is not abs and len(node.args) < 2:
            raise ExpressionError(f"{node.func.id}() takes at least two arguments")
        args = [_compile(a, paths) for a in node.args]
        return lambda m, r: func(*[a(m, r) for a in args])
    raise ExpressionError(f"'{ast.unparse(node) if hasattr(ast, 'unparse') else node}' is not allowed in a condition")


def compile_condition(source: str) -> Condition:
    """Compile a ``when`` expression or raise ``ExpressionError``."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the condition is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the condition is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error at column {exc.offset}: {exc.msg}") from None
    paths: list[str] = []
    root = _compile(tree.body, paths)
    lhs = None
    if isinstance(tree.body, ast.Compare):
        lhs = _compile(tree.body.left, [])
    return Condition(source=source, paths=list(dict.fromkeys(paths)), _root=root, _lhs=lhs)


# --------------------------------------------------------------------------
# Descriptions: Jinja2 templates in a sandbox (jinja2 imported only here).

DEFAULT_DESCRIPTION = "Alert condition met"
MAX_RENDERED = 4000
MAX_POWER = 1000  # `x ** y` with a larger exponent is refused
MAX_REPEAT = 10_000  # `'x' * n` / `[..] * n` with a larger result is refused
RENDER_SECONDS = 1.0  # wall-clock budget of one render (a run holds the database lock meanwhile)
_env = None


class RenderTimeout(Exception):
    pass


def _environment():
    global _env
    if _env is None:
        from jinja2 import StrictUndefined
        from jinja2.exceptions import SecurityError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        class Bounded(ImmutableSandboxedEnvironment):
            """The sandbox plus bounds on the one-step operations a time limit cannot interrupt."""

            intercepted_binops = frozenset({"**", "*"})

            def call_binop(self, context, operator, left, right):
                if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                    raise SecurityError(f"exponent {right} is too large (at most {MAX_POWER})")
                if operator == "*":
                    for seq, times in ((left, right), (right, left)):
                        if (
                            isinstance(seq, (str, list, tuple))
                            and isinstance(times, int)
                            and len(seq) * times > MAX_REPEAT
                        ):
                            raise SecurityError(f"repeating a sequence to more than {MAX_REPEAT} items")
                return super().call_binop(context, operator, left, right)

        _env = Bounded(autoescape=False, undefined=StrictUndefined)
    return _env


def _with_time_limit(render):
    """Run ``render()`` with a wall-clock budget (SIGALRM; only in the main thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return render()

    def expired(_signum, _frame):
        raise RenderTimeout(f"rendering took longer than {RENDER_SECONDS:g}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, RENDER_SECONDS)
    try:
        return render()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_template(source: str) -> None:
    """Parse a description template; reject ``_``-prefixed names/attributes.

    Raises ``ExpressionError``.  (The sandbox would render them as '' silently.)
    """
    _checked_tree(source)


def _checked_tree(source: str):
    """The parsed template, checked as ``check_template`` says (rendering compiles this
    tree, so a storm of alerts parses each description once, not twice)."""
    from jinja2 import TemplateSyntaxError, nodes

    env = _environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"template syntax error on template line {exc.lineno}: {exc.message}") from None
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        name = getattr(node, "name", None) or getattr(node, "attr", None)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise ExpressionError(f"template uses '{name}': names beginning with '_' are not allowed")
    return tree


def render_description(source: str | None, metrics: dict, rule: dict, value) -> str:
    """Render a description.  Raises ``ExpressionError`` when rendering fails."""
    if not source:
        return DEFAULT_DESCRIPTION
    env = _environment()
    try:
        from jinja2 import nodes

        tree = _checked_tree(source)
        # Only the names the template mentions: copying the whole document for every
        # rule would make a storm of N rules over N metrics cost N².
        names = {node.name for node in tree.find_all(nodes.Name)}
        context = {name: metrics[name] for name in names if name in metrics}
        context["rule"] = rule
        context["value"] = value
        template = env.from_string(tree)
        text = _with_time_limit(lambda: template.render(context))
    except ExpressionError:
        raise
    except Exception as exc:  # jinja2 raises many types; all mean "failed to render"
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if len(text) > MAX_RENDERED:
        text = text[: MAX_RENDERED - 1] + "…"
    return text

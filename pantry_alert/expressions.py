"""Safe ``when`` conditions (descriptions are ``templates``).

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
import warnings
from collections.abc import Callable

from .errors import ExpressionError, Unevaluable
from .record import Record

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    Evaluator = Callable[[dict, dict], Any]  # (metrics, read-values) -> value

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
_FUNCS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max}
MAX_EXPRESSION_LENGTH = 2000
MAX_EXPRESSION_DEPTH = 100  # nesting of operators, calls and parentheses


class Unavailable:
    """Stands in the metrics document for a value its source could not give, with the reason.

    A rule reading it is unevaluable with that reason (e.g. which Prometheus
    query failed and why); a description showing it reads ``unavailable``."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason

    def __str__(self) -> str:
        return "unavailable"

    def __repr__(self) -> str:
        return f"Unavailable({self.reason!r})"


def _missing(path: str) -> Unevaluable:
    return Unevaluable(f"metric '{path}' is missing from the metrics document")


def lookup(doc: dict, path: str) -> float:
    """The number at a dotted path, or ``Unevaluable``."""
    node: Any = doc
    for segment in path.split("."):
        if not isinstance(node, dict) or segment not in node:
            raise _missing(path)
        node = node[segment]
    if isinstance(node, Unavailable):
        raise Unevaluable(f"metric '{path}' {node.reason}")
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise Unevaluable(f"metric '{path}' is not a number (got {type(node).__name__}: {str(node)[:40]!r})")
    if isinstance(node, float) and not math.isfinite(node):
        raise Unevaluable(f"metric '{path}' is not a finite number")
    return node


class Condition(Record):
    """A parsed rule condition and the metric paths it reads."""

    source: str
    paths: list[str]
    _root: Evaluator
    _lhs: Evaluator | None
    _fields = ("source", "paths", "_root", "_lhs")
    _shown = ("source", "paths")

    def __init__(self, source: str, paths: list[str], _root: Evaluator, _lhs: Evaluator | None = None) -> None:
        self.source = source
        self.paths = paths
        self._root = _root
        self._lhs = _lhs

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
            cmp_op = _CMPOPS.get(type(op_node))
            if cmp_op is None:
                raise ExpressionError(f"comparison '{type(op_node).__name__}' is not allowed (use < <= > >= == !=)")
            ops.append((cmp_op, _compile(comparator, paths)))

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


def _check_depth(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionError(f"the condition is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def compile_condition(source: str) -> Condition:
    """Compile a ``when`` expression or raise ``ExpressionError``."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the condition is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the condition is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error says it
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error at column {exc.offset}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the condition is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)") from None
    _check_depth(tree)
    paths: list[str] = []
    root = _compile(tree.body, paths)
    lhs = None
    if isinstance(tree.body, ast.Compare):
        lhs = _compile(tree.body.left, [])
    return Condition(source=source, paths=list(dict.fromkeys(paths)), _root=root, _lhs=lhs)

"""Safe ``when`` conditions (descriptions are ``templates``).

Conditions are parsed with :mod:`ast` and compiled once into closures over a
whitelist of node types: numbers, dotted metric paths, ``+ - * / %``,
comparisons, ``and or not``, the calls ``abs min max`` and the window
functions of ``windows`` (a bare metric path and a quoted duration only).  Nothing is ever
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
from .windows import WINDOW_FUNCTIONS, History, Window, compute

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

    Evaluator = Callable[[dict, dict, History | None], Any]  # (metrics, read-values, history) -> value

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
    source: str
    paths: list[str]
    _root: Evaluator
    _lhs: Evaluator | None
    windows: list[Window]  # the window-function calls, in order
    _fields = ("source", "paths", "_root", "_lhs", "windows")
    _shown = ("source", "paths", "windows")

    def __init__(
        self,
        source: str,
        paths: list[str],
        _root: Evaluator,
        _lhs: Evaluator | None = None,
        windows: list[Window] | None = None,
    ) -> None:
        self.source = source
        self.paths = paths
        self._root = _root
        self._lhs = _lhs
        self.windows = [] if windows is None else windows

    def evaluate(self, metrics: dict, history: History | None = None) -> tuple[bool, dict[str, float], float | None]:
        """Return (holds, values read by path, value of the top-level comparison's left side).

        ``history`` holds the stored samples that the window functions read (``windows``)."""
        read: dict[str, float] = {}
        try:
            result = self._root(metrics, read, history)
            value = self._lhs(metrics, read, history) if self._lhs is not None else None
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


class _Scope:
    """What compiling one condition collects: the paths it reads and its window-function calls."""

    def __init__(self, source: str):
        self.source = source
        self.paths: list[str] = []
        self.windows: list[Window] = []


def _constant(node: ast.Constant, scope: _Scope) -> Evaluator:
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise ExpressionError(f"only numbers are allowed as constants, not {node.value!r}")
    const = node.value
    return lambda m, r, h: const


def _path(node: ast.AST, scope: _Scope) -> Evaluator:
    path = _dotted(node)
    if path in _FUNCS or path in WINDOW_FUNCTIONS:
        raise ExpressionError(f"'{path}' is a function; call it like {path}(...)")
    scope.paths.append(path)
    first, *rest = path.split(".")

    def read(m, r, h):
        # The common case in few steps (a storm of rules, a backtest of a month of runs):
        # plain dicts down to an int or a finite float; anything else goes the long way,
        # which says what is wrong.
        node: Any = m.get(first) if type(m) is dict else None
        for segment in rest:
            node = node.get(segment) if type(node) is dict else None
        kind = type(node)
        if kind is int or (kind is float and node - node == 0):
            r[path] = node
            return node
        value = lookup(m, path)
        r[path] = value
        return value

    return read


def _binop(node: ast.BinOp, scope: _Scope) -> Evaluator:
    op = _BINOPS.get(type(node.op))
    if op is None:
        raise ExpressionError(f"operator '{_written(node.op)}' is not allowed (use + - * / %)")
    left, right = _compile(node.left, scope), _compile(node.right, scope)
    return lambda m, r, h: op(left(m, r, h), right(m, r, h))


def _unaryop(node: ast.UnaryOp, scope: _Scope) -> Evaluator:
    operand = _compile(node.operand, scope)
    if isinstance(node.op, ast.Not):
        return lambda m, r, h: not operand(m, r, h)
    if isinstance(node.op, ast.USub):
        return lambda m, r, h: -operand(m, r, h)
    if isinstance(node.op, ast.UAdd):
        return operand
    raise ExpressionError(f"operator '{_written(node.op)}' is not allowed")


def _boolop(node: ast.BoolOp, scope: _Scope) -> Evaluator:
    values = [_compile(v, scope) for v in node.values]
    if isinstance(node.op, ast.And):
        return lambda m, r, h: all([v(m, r, h) for v in values])  # strict: evaluate all
    return lambda m, r, h: any([v(m, r, h) for v in values])


def _compare(node: ast.Compare, scope: _Scope) -> Evaluator:
    left = _compile(node.left, scope)
    ops = []
    for op_node, comparator in zip(node.ops, node.comparators, strict=True):
        cmp_op = _CMPOPS.get(type(op_node))
        if cmp_op is None:
            raise ExpressionError(f"comparison '{_written(op_node)}' is not allowed (use < <= > >= == !=)")
        ops.append((cmp_op, _compile(comparator, scope)))

    def compare(m, r, h):
        current = left(m, r, h)
        operands = [(op, right(m, r, h)) for op, right in ops]
        result = True
        for op, value in operands:
            result = result and op(current, value)
            current = value
        return result

    return compare


def _call(node: ast.Call, scope: _Scope) -> Evaluator:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name in WINDOW_FUNCTIONS:
        return _window_call(node, str(name), scope)
    if name not in _FUNCS:
        raise ExpressionError(
            f"only the functions abs, min and max may be called (and the window functions {', '.join(WINDOW_FUNCTIONS)})"
        )
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args) or not node.args:
        raise ExpressionError(f"call {name}() with plain positional arguments")
    func = _FUNCS[str(name)]
    if func is abs and len(node.args) != 1:
        raise ExpressionError("abs() takes exactly one argument")
    if func is not abs and len(node.args) < 2:
        raise ExpressionError(f"{name}() takes at least two arguments")
    args = [_compile(a, scope) for a in node.args]
    return lambda m, r, h: func(*[a(m, r, h) for a in args])


def _window_call(node: ast.Call, name: str, scope: _Scope) -> Evaluator:
    """``name(path, "duration")``: a bare metric path and a quoted duration, nothing else."""
    usage = f'{name}() takes a metric path and a quoted duration, e.g. {name}(errorRate, "15m")'
    if node.keywords or len(node.args) != 2 or not isinstance(node.args[0], (ast.Name, ast.Attribute)):
        raise ExpressionError(usage)
    duration = node.args[1]
    if not isinstance(duration, ast.Constant) or not isinstance(duration.value, str):
        raise ExpressionError(usage)
    from .timeutil import parse_duration

    try:
        ms = parse_duration(duration.value, what=f"the window of {name}()")
    except ValueError as exc:
        raise ExpressionError(str(exc)) from None
    if ms <= 0:
        raise ExpressionError(f"the window of {name}() must be longer than 0")
    path = _dotted(node.args[0])
    scope.paths.append(path)
    text = ast.get_source_segment(scope.source, node) or ast.unparse(node)
    window = Window(name, path, ms, text)
    scope.windows.append(window)

    def call(m, r, h):
        value = compute(window, lookup(m, path), h)
        r[text] = value
        return value

    return call


_COMPILERS: dict[type, Callable[[Any, _Scope], Evaluator]] = {
    ast.Constant: _constant,
    ast.Name: _path,
    ast.Attribute: _path,
    ast.BinOp: _binop,
    ast.UnaryOp: _unaryop,
    ast.BoolOp: _boolop,
    ast.Compare: _compare,
    ast.Call: _call,
}


def _compile(node: ast.AST, scope: _Scope) -> Evaluator:
    compiler = _COMPILERS.get(type(node))
    if compiler is None:
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed in a condition")
    return compiler(node, scope)


def _check_depth(tree: ast.AST) -> None:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            raise ExpressionError(f"the condition is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# Operators as a condition writes them (for messages: '>>', not RShift).
_SYMBOLS = {
    "RShift": ">>",
    "LShift": "<<",
    "Pow": "**",
    "MatMult": "@",
    "FloorDiv": "//",
    "BitAnd": "&",
    "BitOr": "|",
    "BitXor": "^",
    "Invert": "~",
    "Is": "is",
    "IsNot": "is not",
    "In": "in",
    "NotIn": "not in",
}


def _written(op: ast.AST) -> str:
    name = type(op).__name__
    return _SYMBOLS.get(name, name)


def compile_condition(source: str) -> Condition:
    """Compile a ``when`` expression or raise ``ExpressionError``."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("the condition is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the condition is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" and the like: the error says it
            warnings.simplefilter("ignore", SyntaxWarning)
            text = source.strip()
            tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        # the column in the condition as written (the parse saw it without leading blanks)
        column = (exc.offset or 1) + len(source) - len(source.lstrip())
        raise ExpressionError(f"syntax error at column {column}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the condition is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)") from None
    _check_depth(tree)
    scope = _Scope(text)
    root = _compile(tree.body, scope)
    lhs = None
    if isinstance(tree.body, ast.Compare):
        lhs = _compile(tree.body.left, _Scope(text))
    return Condition(source=source, paths=list(dict.fromkeys(scope.paths)), _root=root, _lhs=lhs, windows=scope.windows)

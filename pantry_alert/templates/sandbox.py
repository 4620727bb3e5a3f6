"""The bounded Jinja2 sandbox every template renders in (jinja2 imported only when needed).

One render has a time and size budget that works in any thread: the budget, the output and
allocation counters, the string methods and filters bounded before they run, the parse-time
check of a template's names, and the render loop that keeps only what is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..errors import ExpressionError

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# --------------------------------------------------------------------------
# The budget (jinja2 is imported only in functions, when a template needs it).
#
# A template may not hold a run (which holds the database lock) or exhaust
# memory, in whichever thread it renders.  The budget of one render:
#   - RENDER_SECONDS of wall-clock time, checked cooperatively: at the start of
#     every template block (so every loop iteration), every call, filter, test,
#     operator, attribute lookup and output piece;
#   - no single string longer than MAX_STRING characters, and at most
#     MAX_ALLOCATED characters produced in all by concatenation, operators,
#     filters and string methods; no list of more than MAX_ITEMS items from a
#     filter;
#   - the one-step operations that could allocate a lot before any check runs
#     (``center``, ``format`` widths, ``replace``, ``indent``, ``join``,
#     ``**``, ``*``...) are checked against these bounds before they run.
# A template over budget fails to render: a rule falls back to the default
# description with a warning.

MAX_RENDERED = 4000  # a longer description is cut (with "…")
MAX_POWER = 1000  # `x ** y` with a larger exponent is refused
MAX_REPEAT = 10_000  # `'x' * n` / `[..] * n` with a larger result is refused
MAX_INT_BITS = 65_536  # an integer result of * or ** may not be larger (about 20,000 digits)
MAX_STRING = 1_000_000  # characters in any one string the template builds
MAX_ALLOCATED = 8_000_000  # characters built in all during one render
MAX_ITEMS = 100_000  # items in a list a filter builds
MAX_WIDTH = 1000  # a field width or precision in format strings
RENDER_SECONDS = 1.0  # wall-clock budget of one render (a run holds the database lock meanwhile)
RENDER_SECONDS_ENV = "PANTRY_ALERT_RENDER_SECONDS"  # overrides it (the tests shorten it)
_env = None
_local = threading.local()  # the budget of the render running in this thread


class RenderTimeout(Exception):
    pass


class _Budget:
    __slots__ = ("seconds", "deadline", "allocated")

    def __init__(self) -> None:
        import time

        from ..timeutil import budget_seconds

        self.seconds = budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV)
        self.deadline = time.monotonic() + self.seconds
        self.allocated = 0


def _budget() -> _Budget | None:
    return getattr(_local, "budget", None)


def tick() -> None:
    budget = _budget()
    if budget is not None:
        import time

        if time.monotonic() > budget.deadline:
            raise RenderTimeout(f"rendering took longer than {budget.seconds:g}s")


def _too_big(what: str):
    from jinja2.exceptions import SecurityError

    return SecurityError(what)


def _account(size: int, what: str = "a string") -> None:
    """Count ``size`` characters built by the template against the budget."""
    if size > MAX_STRING:
        raise _too_big(f"{what} of more than {MAX_STRING} characters")
    budget = _budget()
    if budget is not None:
        budget.allocated += size
        if budget.allocated > MAX_ALLOCATED:
            raise _too_big(f"the template built more than {MAX_ALLOCATED} characters")


def _measure(obj: Any, limit: int = MAX_STRING) -> int:
    """About how many characters ``str(obj)`` has; stops counting past ``limit``."""
    total, stack = 0, [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, float):
            total += 24
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 64
        if total > limit:
            return limit + 1
    return total


def _checked_str(value: Any, what: str = "a value shown as text") -> Any:
    if not isinstance(value, str) and _measure(value) > MAX_STRING:
        raise _too_big(f"{what} of more than {MAX_STRING} characters")
    return value


_PERCENT = None
_SPEC = None


def _check_width(number: str | None, where: str) -> None:
    if number is not None and number.isdigit() and int(number) > MAX_WIDTH:
        raise _too_big(f"field width or precision {number} in {where} is too large (at most {MAX_WIDTH})")


def _check_percent_format(fmt: Any, args: Any) -> None:
    """``fmt % args``: no field wider or more precise than MAX_WIDTH, no ``*``."""
    import re

    global _PERCENT
    if not isinstance(fmt, str):
        return
    if _PERCENT is None:
        _PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)", re.DOTALL)
    for match in _PERCENT.finditer(fmt):
        width, precision = match.group(1), match.group(2)
        if "*" in (width, precision):
            raise _too_big("'*' widths are not allowed in format strings")
        _check_width(width, "a format string")
        _check_width(precision, "a format string")
    _checked_str(args, "a format argument")
    _account(len(fmt))


def _check_brace_format(fmt: Any, args: tuple, kwargs: dict) -> None:
    """``fmt.format(...)``: the same bounds for ``{:>20.3f}`` fields."""
    import re
    import string

    global _SPEC
    if not isinstance(fmt, str):
        return
    if _SPEC is None:
        _SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?[a-zA-Z%]?$", re.DOTALL)
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format reports it
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            raise _too_big("nested replacement fields in format specs are not allowed")
        match = _SPEC.match(spec)
        if match:
            _check_width(match.group(1) or None, "a format spec")
            _check_width(match.group(2) or None, "a format spec")
    _checked_str(args, "a format argument")
    _checked_str(kwargs, "a format argument")
    _account(len(fmt))


def _guard_str_method(text: str, name: str, method):
    """A str method bounded before it runs (center, ljust, replace, join, format...)."""

    def guarded(*args, **kwargs):
        tick()
        if name in ("center", "ljust", "rjust", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int) and width > MAX_STRING:
                raise _too_big(f"{name}({width}): wider than {MAX_STRING} characters")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                _account(len(text) + text.count("\t") * max(size, 0))
        elif name == "replace" and len(args) >= 2:
            _check_replace(text, args[0], args[1], args[2] if len(args) > 2 else -1)
        elif name == "join" and args:
            args = (_bounded_items(args[0], len(text)),) + tuple(args[1:])
        elif name == "format":
            _check_brace_format(text, args, kwargs)
        elif name == "format_map" and args:
            _check_brace_format(text, (), args[0] if isinstance(args[0], dict) else {})
        result = method(*args, **kwargs)
        _account_result(result)
        return result

    return guarded


_STR_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join", "format", "format_map"}
    | {"split", "rsplit", "splitlines", "partition", "rpartition", "encode", "translate"}
)


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not isinstance(text, str) or not isinstance(old, str):
        return
    new_text = str(new) if not isinstance(new, str) else new
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _account(len(text) + hits * max(len(new_text) - len(old), 0), "replace() giving a string")


def _bounded_items(value: Any, separator: int = 0) -> list:
    """``value`` as a list whose joined text stays within MAX_STRING."""
    items, total = [], 0
    for item in value:
        tick()
        items.append(item)
        total += _measure(item) + separator
        if total > MAX_STRING or len(items) > MAX_ITEMS:
            raise _too_big(f"joining to more than {MAX_STRING} characters")
    return items


def _account_result(result: Any) -> None:
    if isinstance(result, str):
        _account(len(result))
    elif isinstance(result, (list, tuple)):
        if len(result) > MAX_ITEMS:
            raise _too_big(f"a list of more than {MAX_ITEMS} items")
        _account(len(result), "a list")


def _filter_checks() -> dict[str, Callable[..., None]]:
    """Checks run before a filter, on its arguments (after any environment/context argument)."""

    def width_at_most(limit):
        def check(value=None, width=80, *args, **kwargs):
            width = kwargs.get("width", width)
            if isinstance(width, int) and width > limit:
                raise _too_big(f"width {width} is too large (at most {limit})")

        return check

    def indent(s="", width=4, *args, **kwargs):
        width = kwargs.get("width", width)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if size > MAX_WIDTH:
            raise _too_big(f"indent width {size} is too large (at most {MAX_WIDTH})")
        text = str(_checked_str(s))
        _account(len(text) + (text.count("\n") + 1) * max(size, 0), "indent() giving a string")

    def wordwrap(s="", width=79, break_long_words=True, wrapstring=None, *args, **kwargs):
        wrap = kwargs.get("wrapstring", wrapstring) or "\n"
        text = str(_checked_str(s))
        if len(text) > MAX_STRING // 10:
            raise _too_big(f"wordwrap of more than {MAX_STRING // 10} characters")
        _account(len(text) * (1 + len(str(wrap))), "wordwrap() giving a string")

    def replace(s="", old="", new="", count=None, *args, **kwargs):
        _check_replace(s, old, new, -1 if count is None else count)

    def format_(value="", *args, **kwargs):
        _check_percent_format(value, kwargs or args)

    def batch(value=None, linecount=1, fill_with=None, *args, **kwargs):
        if isinstance(linecount, int) and linecount > MAX_ITEMS:
            raise _too_big(f"batch({linecount}) is too large (at most {MAX_ITEMS})")

    def slice_(value=None, slices=1, fill_with=None, *args, **kwargs):
        if isinstance(slices, int) and slices > MAX_ITEMS:
            raise _too_big(f"slice({slices}) is too large (at most {MAX_ITEMS})")

    def sized(value=None, *args, **kwargs):
        if hasattr(value, "__len__") and len(value) > MAX_ITEMS:
            raise _too_big(f"a list of more than {MAX_ITEMS} items")

    def sum_(value=None, attribute=None, start=0, *args, **kwargs):
        start = kwargs.get("start", start)
        if isinstance(start, bool) or not isinstance(start, (int, float)):
            raise _too_big("sum() starts from a number only")

    def as_text(value=None, *args, **kwargs):
        _checked_str(value)

    def slow_text(value=None, *args, **kwargs):  # regular-expression work: a smaller input
        if _measure(value) > MAX_STRING // 10:
            raise _too_big(f"more than {MAX_STRING // 10} characters for this filter")

    return {
        "center": width_at_most(MAX_STRING),
        "indent": indent,
        "wordwrap": wordwrap,
        "replace": replace,
        "format": format_,
        "batch": batch,
        "slice": slice_,
        "list": sized,
        "sum": sum_,
        "string": as_text,
        "pprint": as_text,
        "tojson": as_text,
        "urlize": slow_text,
        "striptags": slow_text,
        "truncate": as_text,
        "urlencode": as_text,
        "xmlattr": as_text,
    }


def _bounded_filter(name: str, func, check):
    import functools

    passes = getattr(func, "jinja_pass_arg", None) is not None

    if name == "join":

        @functools.wraps(func)
        def join(*args, **kwargs):
            tick()
            head, rest = (args[:1], args[1:]) if passes else ((), args)
            if rest:
                sep = rest[1] if len(rest) > 1 else kwargs.get("d", "")
                rest = (_bounded_items(rest[0], len(str(sep))),) + tuple(rest[1:])
            result = func(*head, *rest, **kwargs)
            _account_result(result)
            return result

        return join

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        tick()
        if check is not None:
            check(*(args[1:] if passes else args), **kwargs)
        result = func(*args, **kwargs)
        _account_result(result)
        return result

    return wrapper


def _bounded_test(func):
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        tick()
        return func(*args, **kwargs)

    return wrapper


def finalize(value):
    """The sandbox's ``finalize``: every value a template outputs passes here."""
    tick()
    return _checked_str(value)


def environment():
    global _env
    if _env is None:
        from jinja2 import StrictUndefined
        from jinja2.compiler import CodeGenerator
        from jinja2.exceptions import SecurityError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        class BoundedCode(CodeGenerator):
            """Generated code checks the budget at the start of every block and bounds ``~``."""

            def blockvisit(self, nodes, frame):
                self.writeline("environment.budget_tick()")
                super().blockvisit(nodes, frame)

            def visit_Concat(self, node, frame):
                self.write("environment.bounded_concat((")
                for arg in node.nodes:
                    self.visit(arg, frame)
                    self.write(", ")
                self.write("))")

        class Bounded(ImmutableSandboxedEnvironment):
            """The sandbox plus a time and size budget that works in any thread."""

            code_generator_class = BoundedCode
            intercepted_binops = frozenset({"**", "*", "+", "%"})

            @staticmethod
            def budget_tick() -> None:
                tick()

            @staticmethod
            def bounded_concat(pieces) -> str:
                tick()
                size = sum(_measure(p) if not isinstance(p, str) else len(p) for p in pieces)
                _account(size, "concatenating (~) to a string")
                return "".join([p if isinstance(p, str) else str(p) for p in pieces])

            def call_binop(self, context, operator, left, right):
                tick()
                if operator == "**":
                    if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                        raise SecurityError(f"exponent {right} is too large (at most {MAX_POWER})")
                    if isinstance(left, int) and isinstance(right, int) and right > 0:
                        if left.bit_length() * right > MAX_INT_BITS:
                            raise SecurityError(f"the power is larger than {MAX_INT_BITS} bits")
                elif operator == "*":
                    for seq, times in ((left, right), (right, left)):
                        if (
                            isinstance(seq, (str, list, tuple))
                            and isinstance(times, int)
                            and len(seq) * times > MAX_REPEAT
                        ):
                            raise SecurityError(f"repeating a sequence to more than {MAX_REPEAT} items")
                    if isinstance(left, int) and isinstance(right, int):
                        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                            raise SecurityError(f"the product is larger than {MAX_INT_BITS} bits")
                elif operator == "+":
                    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                        _account(len(left) + len(right), "adding (+) to a sequence")
                elif operator == "%" and isinstance(left, str):
                    _check_percent_format(left, right)
                result = super().call_binop(context, operator, left, right)
                if isinstance(result, str):
                    _account(len(result))
                return result

            def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja's signature)
                tick()
                return super().call(__context, __obj, *args, **kwargs)

            def getattr(self, obj, attribute):
                tick()
                value = super().getattr(obj, attribute)
                if isinstance(obj, str) and attribute in _STR_METHODS and callable(value):
                    return _guard_str_method(obj, attribute, value)
                return value

            def getitem(self, obj, argument):
                tick()
                value = super().getitem(obj, argument)
                if isinstance(obj, str) and argument in _STR_METHODS and callable(value):
                    return _guard_str_method(obj, argument, value)
                return value

        env = Bounded(autoescape=False, undefined=StrictUndefined, finalize=finalize)
        env.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs: no use in an alert
        checks = _filter_checks()
        env.filters = {name: _bounded_filter(name, f, checks.get(name)) for name, f in env.filters.items()}
        env.tests = {name: _bounded_test(f) for name, f in env.tests.items()}
        _env = env
    return _env


def render_bounded(template, context: dict, limit: int = MAX_RENDERED) -> str:
    """Render within the budget; only the first ``limit`` characters (and one more) are kept."""
    previous = _budget()
    _local.budget = _Budget()
    try:
        pieces, size = [], 0
        for piece in template.generate(context):
            tick()
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                break
        return "".join(pieces)
    finally:
        _local.budget = previous


def check_template(source: str) -> None:
    """Parse a description template; reject ``_``-prefixed names/attributes.

    Raises ``ExpressionError``.  (The sandbox would render them as '' silently.)
    """
    checked_tree(source)


def checked_tree(source: str):
    """The parsed template, checked as ``check_template`` says (rendering compiles this
    tree, so a storm of alerts parses each description once, not twice)."""
    from jinja2 import TemplateSyntaxError, nodes

    env = environment()
    try:
        tree = env.parse(source)
        found = list(tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)))
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"template syntax error on template line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise ExpressionError("the template is nested too deeply (brackets or blocks inside one another)") from None
    for node in found:
        name = getattr(node, "name", None) or getattr(node, "attr", None)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        if isinstance(name, str) and name.startswith("_"):
            raise ExpressionError(f"template uses '{name}': names beginning with '_' are not allowed")
    return tree

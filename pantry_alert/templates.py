"""Descriptions: Jinja2 templates rendered in a bounded sandbox (jinja2 imported only when needed).

A plain description of text and ``{{ name }}`` pieces is rendered without
Jinja at all; anything else is compiled once per process and rendered in the
sandbox under the budget below.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from .errors import ExpressionError
from .model import DEFAULT_DESCRIPTION

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

# --------------------------------------------------------------------------
# Descriptions: Jinja2 templates in a sandbox (jinja2 imported only here).
#
# A description may not hold a run (which holds the database lock) or exhaust
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
# A template over budget fails to render: the rule falls back to the default
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

        from .timeutil import budget_seconds

        self.seconds = budget_seconds(RENDER_SECONDS, RENDER_SECONDS_ENV)
        self.deadline = time.monotonic() + self.seconds
        self.allocated = 0


def _budget() -> _Budget | None:
    return getattr(_local, "budget", None)


def _tick() -> None:
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
        _tick()
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
        _tick()
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
            _tick()
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
        _tick()
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
        _tick()
        return func(*args, **kwargs)

    return wrapper


def _finalize(value):
    """The sandbox's ``finalize``: every value a template outputs passes here."""
    _tick()
    return _checked_str(value)


def _environment():
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
                _tick()

            @staticmethod
            def bounded_concat(pieces) -> str:
                _tick()
                size = sum(_measure(p) if not isinstance(p, str) else len(p) for p in pieces)
                _account(size, "concatenating (~) to a string")
                return "".join([p if isinstance(p, str) else str(p) for p in pieces])

            def call_binop(self, context, operator, left, right):
                _tick()
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
                _tick()
                return super().call(__context, __obj, *args, **kwargs)

            def getattr(self, obj, attribute):
                _tick()
                value = super().getattr(obj, attribute)
                if isinstance(obj, str) and attribute in _STR_METHODS and callable(value):
                    return _guard_str_method(obj, attribute, value)
                return value

            def getitem(self, obj, argument):
                _tick()
                value = super().getitem(obj, argument)
                if isinstance(obj, str) and argument in _STR_METHODS and callable(value):
                    return _guard_str_method(obj, argument, value)
                return value

        env = Bounded(autoescape=False, undefined=StrictUndefined, finalize=_finalize)
        env.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs: no use in an alert
        checks = _filter_checks()
        env.filters = {name: _bounded_filter(name, f, checks.get(name)) for name, f in env.filters.items()}
        env.tests = {name: _bounded_test(f) for name, f in env.tests.items()}
        _env = env
    return _env


def _render_bounded(template, context: dict, limit: int = MAX_RENDERED) -> str:
    """Render within the budget; only the first ``limit`` characters (and one more) are kept."""
    previous = _budget()
    _local.budget = _Budget()
    try:
        pieces, size = [], 0
        for piece in template.generate(context):
            _tick()
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
    _checked_tree(source)


def _checked_tree(source: str):
    """The parsed template, checked as ``check_template`` says (rendering compiles this
    tree, so a storm of alerts parses each description once, not twice)."""
    from jinja2 import TemplateSyntaxError, nodes

    env = _environment()
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


def names_read(source: str) -> frozenset[str]:
    """The variables a description template reads from its context: not the ones it sets
    itself (``{% set %}``, loop variables) nor the sandbox's globals (``range``, ...).
    Raises ``ExpressionError`` as ``check_template`` does."""
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(_checked_tree(source))) - set(_environment().globals)


_NOT_FOUND = object()


class _TextAndNames:
    """A template that is only text and ``{{ name }}`` outputs (most descriptions), rendered
    without compiling it: exactly what Jinja's code for it does (the same look-ups, the
    sandbox's ``finalize``, ``StrictUndefined``, budget tick and pieces), at a small fraction
    of the cost of a compile, which a storm of distinct rules pays for each.  Jinja itself is
    loaded only for a name the context lacks (a global of the sandbox, or undefined)."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[tuple[bool, str], ...]):
        self.parts = parts  # (is text, the text or the name), in order

    def generate(self, context: dict):
        values = {}
        for is_text, item in self.parts:
            if not is_text and item not in values:
                if item in context:
                    values[item] = context[item]
                else:
                    env = _environment()
                    value = env.globals.get(item, _NOT_FOUND)
                    values[item] = env.undefined(name=item) if value is _NOT_FOUND else value
        _tick()  # the environment's budget_tick at the start of the template's body
        for is_text, item in self.parts:
            yield item if is_text else str(_finalize(values[item]))


def _text_and_names(tree) -> tuple[tuple[bool, str], ...] | None:
    """The pieces of a template made of text and ``{{ name }}`` outputs only, else None."""
    from jinja2 import nodes

    parts = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append((True, node.data))
            elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in _NOT_NAMES:
                parts.append((False, node.name))
            else:
                return None
    return tuple(parts)


# Names that the parser (constants, operators) or the compiled code (``self``, the template)
# read as something other than a variable of the context.
_NOT_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else", "self"}
)
_OUTPUT = None


def _source_parts(source: str) -> tuple[tuple[bool, str], ...] | None:
    """``_text_and_names`` of the parsed template, for a source that is plainly text and
    ``{{ name }}`` outputs (no other ``{{``, no ``{%`` or ``{#``), read without Jinja's lexer
    and parser the way they read it: line endings become ``\\n`` and one trailing newline
    goes.  None for anything else (Jinja parses it)."""
    import re

    global _OUTPUT
    if "{%" in source or "{#" in source:
        return None
    if _OUTPUT is None:
        _OUTPUT = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}")
    lines = re.split(r"\r\n|\r|\n", source)
    if lines[-1] == "":
        del lines[-1]
    parts = []
    pieces = _OUTPUT.split("\n".join(lines))
    for index, piece in enumerate(pieces):
        if index % 2:
            if piece in _NOT_NAMES or piece.startswith("_"):
                return None
            parts.append((False, piece))
        elif "{{" in piece or (piece.endswith("{") and index < len(pieces) - 1):  # "{{{ x }}": "{{" comes first
            return None
        elif piece:
            parts.append((True, piece))
    return tuple(parts)


@functools.lru_cache(maxsize=256)
def _compiled(source: str):
    """(template, the names it reads) for a description: parsed, checked and compiled once per
    process and source (a failure is raised again each time: it is not kept)."""
    parts = _source_parts(source)
    if parts is not None:
        return _TextAndNames(parts), frozenset(item for is_text, item in parts if not is_text)
    from jinja2 import nodes

    env = _environment()
    tree = _checked_tree(source)
    names = frozenset(node.name for node in tree.find_all(nodes.Name))
    parts = _text_and_names(tree)
    return (_TextAndNames(parts) if parts is not None else env.from_string(tree)), names


def render_description(source: str | None, metrics: dict, rule: dict, value) -> str:
    """Render a description.  Raises ``ExpressionError`` when rendering fails."""
    if not source:
        return DEFAULT_DESCRIPTION
    try:
        template, names = _compiled(source)
        # Only the names the template mentions: copying the whole document for every
        # rule would make a storm of N rules over N metrics cost N².
        context = {name: metrics[name] for name in names if name in metrics}
        context["rule"] = rule
        context["value"] = value
        text = _render_bounded(template, context)
        text.encode("utf-8")  # a lone surrogate from a metric string cannot be stored or printed
    except ExpressionError:
        raise
    except UnicodeEncodeError:
        raise ExpressionError(
            "the description contains text that is not valid Unicode (a lone surrogate in a metric string?)"
        ) from None
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: the template is too deep or too large") from None
    except Exception as exc:  # jinja2 raises many types; all mean "failed to render"
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if len(text) > MAX_RENDERED:
        text = text[: MAX_RENDERED - 1] + "…"
    return text


MAX_BODY = 256 * 1024  # characters a body template (the webhook's JSON) may render


def render_body(source: str, context: dict) -> str:
    """Render a body template (``channels.webhook.body``) in the same sandbox and budget as a
    description, up to ``MAX_BODY`` characters.  Raises ``ExpressionError`` naming the template
    line where Jinja knows it."""
    try:
        template, _names = _compiled(source)
        text = _render_bounded(template, context, MAX_BODY)
        text.encode("utf-8")
    except ExpressionError:
        raise
    except UnicodeEncodeError:
        raise ExpressionError("the body contains text that is not valid Unicode (a lone surrogate?)") from None
    except (RecursionError, MemoryError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: the template is too deep or too large") from None
    except Exception as exc:  # jinja2 raises many types; all mean "failed to render"
        line = _template_line(exc)
        raise ExpressionError(f"{type(exc).__name__}{line}: {exc}") from None
    if len(text) > MAX_BODY:
        raise ExpressionError(f"the body is longer than {MAX_BODY // 1024} KiB")
    return text


def _template_line(exc: BaseException) -> str:
    """`` on template line N`` from the traceback of a failed render, when it passes the template."""
    line = getattr(exc, "lineno", None)
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":  # jinja maps its frames to template lines
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" on template line {line}" if line else ""

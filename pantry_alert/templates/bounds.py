"""The operations that could build a lot in one step, checked against the budget's limits
before they run: ``%`` and ``str.format`` field widths, string methods (``center``,
``expandtabs``, ``replace``, ``join``, ``format``...), every filter's arguments and result.
``bounded_filters`` and ``bounded_tests`` wrap an environment's filters and tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .budget import (
    MAX_ITEMS,
    MAX_STRING,
    MAX_WIDTH,
    account,
    checked_str,
    measure,
    tick,
    too_big,
)

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

_PERCENT = None
_SPEC = None


def _check_width(number: str | None, where: str) -> None:
    if number is not None and number.isdigit() and int(number) > MAX_WIDTH:
        raise too_big(f"field width or precision {number} in {where} is too large (at most {MAX_WIDTH})")


def check_percent_format(fmt: Any, args: Any) -> None:
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
            raise too_big("'*' widths are not allowed in format strings")
        _check_width(width, "a format string")
        _check_width(precision, "a format string")
    checked_str(args, "a format argument")
    account(len(fmt))


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
            raise too_big("nested replacement fields in format specs are not allowed")
        match = _SPEC.match(spec)
        if match:
            _check_width(match.group(1) or None, "a format spec")
            _check_width(match.group(2) or None, "a format spec")
    checked_str(args, "a format argument")
    checked_str(kwargs, "a format argument")
    account(len(fmt))


def guard_str_method(text: str, name: str, method):
    """A str method bounded before it runs (center, ljust, replace, join, format...)."""

    def guarded(*args, **kwargs):
        tick()
        if name in ("center", "ljust", "rjust", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int) and width > MAX_STRING:
                raise too_big(f"{name}({width}): wider than {MAX_STRING} characters")
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                account(len(text) + text.count("\t") * max(size, 0))
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


STR_METHODS = frozenset(
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
    account(len(text) + hits * max(len(new_text) - len(old), 0), "replace() giving a string")


def _bounded_items(value: Any, separator: int = 0) -> list:
    """``value`` as a list whose joined text stays within MAX_STRING."""
    items, total = [], 0
    for item in value:
        tick()
        items.append(item)
        total += measure(item) + separator
        if total > MAX_STRING or len(items) > MAX_ITEMS:
            raise too_big(f"joining to more than {MAX_STRING} characters")
    return items


def _account_result(result: Any) -> None:
    if isinstance(result, str):
        account(len(result))
    elif isinstance(result, (list, tuple)):
        if len(result) > MAX_ITEMS:
            raise too_big(f"a list of more than {MAX_ITEMS} items")
        account(len(result), "a list")


def _filter_checks() -> dict[str, Callable[..., None]]:
    """Checks run before a filter, on its arguments (after any environment/context argument)."""

    def width_at_most(limit):
        def check(value=None, width=80, *args, **kwargs):
            width = kwargs.get("width", width)
            if isinstance(width, int) and width > limit:
                raise too_big(f"width {width} is too large (at most {limit})")

        return check

    def indent(s="", width=4, *args, **kwargs):
        width = kwargs.get("width", width)
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if size > MAX_WIDTH:
            raise too_big(f"indent width {size} is too large (at most {MAX_WIDTH})")
        text = str(checked_str(s))
        account(len(text) + (text.count("\n") + 1) * max(size, 0), "indent() giving a string")

    def wordwrap(s="", width=79, break_long_words=True, wrapstring=None, *args, **kwargs):
        wrap = kwargs.get("wrapstring", wrapstring) or "\n"
        text = str(checked_str(s))
        if len(text) > MAX_STRING // 10:
            raise too_big(f"wordwrap of more than {MAX_STRING // 10} characters")
        account(len(text) * (1 + len(str(wrap))), "wordwrap() giving a string")

    def replace(s="", old="", new="", count=None, *args, **kwargs):
        _check_replace(s, old, new, -1 if count is None else count)

    def format_(value="", *args, **kwargs):
        check_percent_format(value, kwargs or args)

    def batch(value=None, linecount=1, fill_with=None, *args, **kwargs):
        if isinstance(linecount, int) and linecount > MAX_ITEMS:
            raise too_big(f"batch({linecount}) is too large (at most {MAX_ITEMS})")

    def slice_(value=None, slices=1, fill_with=None, *args, **kwargs):
        if isinstance(slices, int) and slices > MAX_ITEMS:
            raise too_big(f"slice({slices}) is too large (at most {MAX_ITEMS})")

    def sized(value=None, *args, **kwargs):
        if hasattr(value, "__len__") and len(value) > MAX_ITEMS:
            raise too_big(f"a list of more than {MAX_ITEMS} items")

    def sum_(value=None, attribute=None, start=0, *args, **kwargs):
        start = kwargs.get("start", start)
        if isinstance(start, bool) or not isinstance(start, (int, float)):
            raise too_big("sum() starts from a number only")

    def as_text(value=None, *args, **kwargs):
        checked_str(value)

    def slow_text(value=None, *args, **kwargs):  # regular-expression work: a smaller input
        if measure(value) > MAX_STRING // 10:
            raise too_big(f"more than {MAX_STRING // 10} characters for this filter")

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


def bounded_filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    """Each filter ticking the clock, its arguments checked before and its result counted after."""
    checks = _filter_checks()
    return {name: _bounded_filter(name, f, checks.get(name)) for name, f in filters.items()}


def bounded_tests(tests: Mapping[str, Any]) -> dict[str, Any]:
    """Each test ticking the clock."""
    return {name: _bounded_test(f) for name, f in tests.items()}

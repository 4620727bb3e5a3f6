"""Descriptions: a plain description of text and ``{{ name }}`` pieces is rendered without
Jinja at all; anything else is compiled once per process and rendered in the sandbox."""

from __future__ import annotations

import functools

from ..errors import ExpressionError
from ..model import DEFAULT_DESCRIPTION
from .budget import MAX_RENDERED, tick
from .sandbox import checked_tree, environment, finalize, render_bounded


def names_read(source: str) -> frozenset[str]:
    """The variables a description template reads from its context: not the ones it sets
    itself (``{% set %}``, loop variables) nor the sandbox's globals (``range``, ...).
    Raises ``ExpressionError`` as ``check_template`` does."""
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(checked_tree(source))) - set(environment().globals)


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
                    env = environment()
                    value = env.globals.get(item, _NOT_FOUND)
                    values[item] = env.undefined(name=item) if value is _NOT_FOUND else value
        tick()  # the environment's budget_tick at the start of the template's body
        for is_text, item in self.parts:
            yield item if is_text else str(finalize(values[item]))


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
def compiled(source: str):
    """(template, the names it reads) for a description: parsed, checked and compiled once per
    process and source (a failure is raised again each time: it is not kept)."""
    parts = _source_parts(source)
    if parts is not None:
        return _TextAndNames(parts), frozenset(item for is_text, item in parts if not is_text)
    from jinja2 import nodes

    env = environment()
    tree = checked_tree(source)
    names = frozenset(node.name for node in tree.find_all(nodes.Name))
    parts = _text_and_names(tree)
    return (_TextAndNames(parts) if parts is not None else env.from_string(tree)), names


def render_description(source: str | None, metrics: dict, rule: dict, value) -> str:
    """Render a description.  Raises ``ExpressionError`` when rendering fails."""
    if not source:
        return DEFAULT_DESCRIPTION
    try:
        template, names = compiled(source)
        # Only the names the template mentions: copying the whole document for every
        # rule would make a storm of N rules over N metrics cost N².
        context = {name: metrics[name] for name in names if name in metrics}
        context["rule"] = rule
        context["value"] = value
        text = render_bounded(template, context)
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

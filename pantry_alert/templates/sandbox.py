"""The bounded Jinja2 sandbox every template renders in (jinja2 imported only when needed).

The environment: Jinja's immutable sandbox whose generated code ticks the render's clock
(``budget``) at the start of every block and whose operators, calls, attribute look-ups,
string methods, filters and tests are checked against its limits (``bounds``); the render
loop that keeps only what is needed; and the parse-time check of a template's names.
"""

from __future__ import annotations

from ..errors import ExpressionError
from .bounds import STR_METHODS, bounded_filters, bounded_tests, check_percent_format, guard_str_method
from .budget import (
    MAX_INT_BITS,
    MAX_POWER,
    MAX_RENDERED,
    MAX_REPEAT,
    account,
    checked_str,
    measure,
    started,
    tick,
)

_env = None


def finalize(value):
    """The sandbox's ``finalize``: every value a template outputs passes here."""
    tick()
    return checked_str(value)


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
                size = sum(measure(p) if not isinstance(p, str) else len(p) for p in pieces)
                account(size, "concatenating (~) to a string")
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
                        account(len(left) + len(right), "adding (+) to a sequence")
                elif operator == "%" and isinstance(left, str):
                    check_percent_format(left, right)
                result = super().call_binop(context, operator, left, right)
                if isinstance(result, str):
                    account(len(result))
                return result

            def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja's signature)
                tick()
                return super().call(__context, __obj, *args, **kwargs)

            def getattr(self, obj, attribute):
                tick()
                value = super().getattr(obj, attribute)
                if isinstance(obj, str) and attribute in STR_METHODS and callable(value):
                    return guard_str_method(obj, attribute, value)
                return value

            def getitem(self, obj, argument):
                tick()
                value = super().getitem(obj, argument)
                if isinstance(obj, str) and argument in STR_METHODS and callable(value):
                    return guard_str_method(obj, argument, value)
                return value

        env = Bounded(autoescape=False, undefined=StrictUndefined, finalize=finalize)
        env.globals.pop("lipsum", None)  # lipsum(n) builds n paragraphs: no use in an alert
        env.filters = bounded_filters(env.filters)
        env.tests = bounded_tests(env.tests)
        _env = env
    return _env


def render_bounded(template, context: dict, limit: int = MAX_RENDERED) -> str:
    """Render within the budget; only the first ``limit`` characters (and one more) are kept."""
    with started():
        pieces, size = [], 0
        for piece in template.generate(context):
            tick()
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                break
        return "".join(pieces)


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

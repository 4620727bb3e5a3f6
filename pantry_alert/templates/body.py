"""Body templates (``channels.webhook.body``): rendered in the description sandbox and budget,
with a larger size limit and errors that name the template line."""

from __future__ import annotations

from ..errors import ExpressionError
from .descriptions import compiled
from .sandbox import render_bounded

MAX_BODY = 256 * 1024  # characters a body template (the webhook's JSON) may render


def render_body(source: str, context: dict) -> str:
    """Render a body template (``channels.webhook.body``) in the same sandbox and budget as a
    description, up to ``MAX_BODY`` characters.  Raises ``ExpressionError`` naming the template
    line where Jinja knows it."""
    try:
        template, _names = compiled(source)
        text = render_bounded(template, context, MAX_BODY)
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

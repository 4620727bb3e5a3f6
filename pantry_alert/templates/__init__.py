"""Jinja2 templates rendered in a bounded sandbox (jinja2 imported only when needed).

- ``budget``: the limits of one render, its clock and the counters of what it builds;
- ``bounds``: string methods, format strings and filters checked against them before they run;
- ``sandbox``: the sandboxed environment built on both, the render loop and the name check;
- ``descriptions``: a rule's description, rendered without Jinja when it is only text and
  ``{{ name }}`` pieces, else compiled once per process;
- ``body``: a body template (the webhook's JSON), in the same sandbox with a larger limit.
"""

from .body import MAX_BODY, render_body
from .budget import MAX_RENDERED, MAX_STRING, RENDER_SECONDS, RENDER_SECONDS_ENV, RenderTimeout
from .descriptions import names_read, render_description
from .sandbox import check_template

__all__ = [
    "MAX_BODY",
    "MAX_RENDERED",
    "MAX_STRING",
    "RENDER_SECONDS",
    "RENDER_SECONDS_ENV",
    "RenderTimeout",
    "check_template",
    "names_read",
    "render_body",
    "render_description",
]

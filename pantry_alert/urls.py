"""The one check for the http(s) URLs of the configuration and of links in notifications."""

from __future__ import annotations

import re

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from typing import Any

_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


def is_http_url(value: Any) -> bool:
    """Whether ``value`` is an absolute http or https URL.

    It has a host, no whitespace anywhere, and a port (when it names one)
    in 1-65535.  Callers strip surrounding whitespace first where they allow
    it.  Anything else (``ftp:``, ``javascript:``, a relative path) is refused.
    """
    if not isinstance(value, str) or not _HTTP_URL.fullmatch(value):
        return False
    from urllib.parse import urlsplit

    try:
        port = urlsplit(value).port  # a port that is no number, or above 65535, is a ValueError
    except ValueError:
        return False
    return port != 0


def why_not(value: Any) -> str:
    """What a refused URL lacks, for the message: the port range, or the absolute http(s) form."""
    if isinstance(value, str) and _HTTP_URL.fullmatch(value.strip()):
        port = re.match(r"https?://(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^/?#:]*):([^/?#]*)", value.strip(), re.IGNORECASE)
        if port is not None:
            return f"the port {port.group(1)!r} is not a number from 1 to 65535"
    return "absolute http(s) URL expected"

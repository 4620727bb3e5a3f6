"""Keeping secrets out of messages: the one place sources and channels both use.

``scrub`` replaces known secrets in a text; ``redact_url`` drops a URL's
userinfo, query and fragment; ``base64_forms`` and ``longest_first`` widen
and order a list of secrets (an SMTP AUTH exchange carries a password
base64-encoded, and a short secret inside a longer one must not be replaced
first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """``https://user:pw@host/p?token=x#f`` -> ``https://host/p?…`` (no userinfo,
    query or fragment); works on malformed URLs too."""
    text = str(url).strip().split("#", 1)[0]
    if "?" in text:
        text = text.split("?", 1)[0] + "?…"
    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?@]*@", r"\1", text)


def base64_forms(text: str) -> list[str]:
    """``text`` base64-encoded as an AUTH line carries it, with and without its ``=`` padding."""
    import base64

    if not text:
        return []
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return [encoded, encoded.rstrip("=")]


def longest_first(secrets: Sequence[str | None]) -> list[str]:
    """Longest first, so that no secret is cut by scrubbing a shorter one inside it first."""
    return sorted(dict.fromkeys(s for s in secrets if s), key=len, reverse=True)

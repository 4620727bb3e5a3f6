"""Signed acknowledge links: one tap on a phone acknowledges one alert.

With ``api.public_url`` (where people reach ``serve``) and a link secret
(``api.link_secret`` or ``PANTRY_ALERT_LINK_SECRET``, at least 32 characters),
every notice of a firing alert carries::

    <public_url>/ack/<alert id>?exp=<ms>&sig=<hex>

``exp`` is when the notice was made plus ``api.link_ttl`` (default 24h);
``sig`` is the hex HMAC-SHA256, keyed with the secret, of the UTF-8 bytes
``<alert id>.<exp>``.  The link acknowledges that one alert until it expires
and does nothing else; ``serve`` checks it with ``verify`` (constant time).
"""

from __future__ import annotations

from .record import FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs every run ~3 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SECRET_ENV = "PANTRY_ALERT_LINK_SECRET"
MIN_SECRET = 32  # characters
DEFAULT_TTL_MS = 24 * 3_600_000
KEYS = ("public_url", "link_secret", "link_ttl")


class LinkSettings(FrozenRecord):
    """Where acknowledge links point and how they are signed (``enabled``: both are set)."""

    public_url: str | None
    secret: str | None
    ttl_ms: int
    _fields = ("public_url", "secret", "ttl_ms")
    _shown = ("public_url", "ttl_ms")  # never the secret

    def __init__(self, public_url: str | None = None, secret: str | None = None, ttl_ms: int = DEFAULT_TTL_MS):
        object.__setattr__(self, "public_url", public_url)
        object.__setattr__(self, "secret", secret)
        object.__setattr__(self, "ttl_ms", ttl_ms)

    @property
    def enabled(self) -> bool:
        return bool(self.public_url and self.secret)


def parse(api: Mapping[str, Any], env: Mapping[str, str], problems: Any, public_url: str | None) -> LinkSettings:
    """The link settings of the ``api`` section (``problems``: the config's problem list);
    ``public_url`` is ``api.public_url`` as the section parser checked it."""
    secret = api.get("link_secret")
    where: tuple[str, ...] = ("api", "link_secret")
    if secret in (None, ""):
        secret, where = env.get(SECRET_ENV) or None, ("api",)
    if secret is not None:
        if not isinstance(secret, str) or len(secret.strip()) < MIN_SECRET:
            said = "" if len(where) > 1 else f"{SECRET_ENV} (environment): "
            problems.add(where, f"{said}the link secret must be at least {MIN_SECRET} characters")
            secret = None
        else:
            secret = secret.strip()
    ttl = _ttl(api.get("link_ttl"), problems)
    return LinkSettings(public_url=public_url.rstrip("/") if public_url else None, secret=secret, ttl_ms=ttl)


def _ttl(value: Any, problems: Any) -> int:
    from .timeutil import parse_duration

    if value is None or value == "":
        return DEFAULT_TTL_MS
    try:
        ms = parse_duration(value, what="link_ttl")
    except ValueError as exc:
        problems.add(("api", "link_ttl"), str(exc).split(": ", 1)[-1])
        return DEFAULT_TTL_MS
    if ms <= 0:
        problems.add(("api", "link_ttl"), f"must be a positive duration such as 24h, not {value!r}")
        return DEFAULT_TTL_MS
    return ms


def signature(secret: str, alert_id: str, exp: int | str) -> str:
    """The hex HMAC-SHA256 of ``<alert id>.<exp>`` keyed with ``secret``."""
    import hashlib
    import hmac

    return hmac.new(secret.encode("utf-8"), f"{alert_id}.{exp}".encode(), hashlib.sha256).hexdigest()


def ack_link(settings: LinkSettings, alert_id: str, now_ms: int) -> str | None:
    """The alert's signed acknowledge link made at ``now_ms``, or None when links are off."""
    if not settings.enabled or settings.public_url is None or settings.secret is None:
        return None
    from urllib.parse import quote

    exp = now_ms + settings.ttl_ms
    sig = signature(settings.secret, alert_id, exp)
    return f"{settings.public_url}/ack/{quote(alert_id, safe='')}?exp={exp}&sig={sig}"


def verify(secret: str | None, alert_id: str, exp: str | None, sig: str | None, now_ms: int) -> bool:
    """Whether ``sig`` signs ``alert_id`` and ``exp``, and ``exp`` is still ahead of ``now_ms``."""
    import hmac

    if not secret or not exp or not sig or not exp.isascii() or not exp.isdigit() or len(exp) > 16:
        return False
    expected = signature(secret, alert_id, exp)  # the expiry exactly as given: "0<exp>" is another link
    valid = hmac.compare_digest(expected.encode(), sig.encode("ascii", "replace"))
    return valid and int(exp) > now_ms

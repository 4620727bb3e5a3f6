"""Plain words for the usual network failures, shared by the metrics fetch and the channels.

``ConnectError: [Errno 111] Connection refused`` tells a sysadmin little;
``connection refused (nothing listens on that host and port?)`` says what to
check.  Anything not recognised here keeps its own text.
"""

from __future__ import annotations

import errno
import socket


def connect_problem(error: BaseException) -> str | None:
    """What went wrong connecting, in plain words, or None when it is not a connection failure."""
    cause: BaseException | None = error
    seen = 0
    while cause is not None and not isinstance(cause, OSError) and seen < 10:
        cause = cause.__cause__ or cause.__context__
        seen += 1
    if isinstance(cause, socket.gaierror):
        return "cannot resolve the host name (check the URL, or DNS)"
    code = getattr(cause, "errno", None)
    text = str(error)
    if code == errno.ECONNREFUSED or "Connection refused" in text:
        return "connection refused (nothing listens on that host and port?)"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH) or "No route to host" in text:
        return "host unreachable (routing or firewall)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "cannot resolve the host name (check the URL, or DNS)"
    return None

"""What a channel can do, declared once at the top of its own module.

A channel module ``notify/<name>.py`` declares::

    CAPABILITIES = Capabilities(env=("SMTP_HOST", ...), digest=True, batched=True)

and ``notify.registry`` lists its name and module path on one line.  Every
list the rest of the program needs (the channels' environment variables, the
synchronising channels, the digest-capable and batched ones, the serial ones)
is built from these declarations.

The declaration is a call with literal arguments only: the registry reads it
from the module's source without importing the module, so that a run loads
only the channels it can use.
"""

from __future__ import annotations


class Capabilities:
    """A channel's traits.

    ``env``
        The environment variables its ``settings`` reads.  A channel whose
        ``channels.<name>`` section is absent or empty, and none of whose
        variables is set, is not configured.
    ``always``
        Configured without a section or variables (the console).
    ``sync``
        It synchronises the whole alert state once per run (``sync(store,
        config, settings, now)``) instead of sending a message per
        notification: the engine records no notifications for it.
    ``digest``
        Many notifications can go to it as one digest message (quiet hours
        that ended, a storm in one run).
    ``batched``
        ``batching.max_per_run`` applies to it: a storm in one run goes as one
        digest.  A batched channel is digest-capable.
    ``follows_ack_resolve``
        It is told when an alert is acknowledged or resolved (an incident
        service that keeps its own incident open until then).
    ``serial``
        One send at a time, whatever ``max_parallel`` says (the console, whose
        lines must not interleave).
    """

    __slots__ = ("env", "always", "sync", "digest", "batched", "follows_ack_resolve", "serial")

    def __init__(
        self,
        *,
        env: tuple[str, ...] = (),
        always: bool = False,
        sync: bool = False,
        digest: bool = False,
        batched: bool = False,
        follows_ack_resolve: bool = False,
        serial: bool = False,
    ) -> None:
        if batched and not digest:
            raise ValueError("a batched channel must be digest-capable")
        if sync and (digest or batched or serial):
            raise ValueError("a synchronising channel sends no messages: no digest, batching or serial sends")
        self.env = tuple(env)
        self.always = always
        self.sync = sync
        self.digest = digest
        self.batched = batched
        self.follows_ack_resolve = follows_ack_resolve
        self.serial = serial

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Capabilities) and self.as_dict() == other.as_dict()

    def __hash__(self) -> int:
        return hash(tuple(self.as_dict().values()))

    def __repr__(self) -> str:
        return "Capabilities(" + ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items()) + ")"

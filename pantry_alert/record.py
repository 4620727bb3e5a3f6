"""``Record``: equality and repr for the plain classes a quiet ``check`` creates.

A ``@dataclass`` costs its module ``dataclasses`` and, per class, Python work and a compile
of its generated ``__init__``, ``__repr__`` and ``__eq__`` at every start (0.15 to 0.8 ms a
class on the development machine: about a fifth of a quiet check).  The classes on that path
are written out instead: an explicit ``__init__`` (compiled once into the ``.pyc`` like any
other code), the field names in ``_fields``, and these methods, which behave as a
dataclass's do.  Classes off that path stay dataclasses.
"""

from __future__ import annotations


class Record:
    """``==`` over ``_fields`` (same class only) and a dataclass-style repr over ``_shown``."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()  # compared, in order
    _shown: tuple[str, ...] = ()  # shown by repr (secrets and bulky maps are not)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, name) for name in self._fields) == tuple(
            getattr(other, name) for name in other._fields
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
        return f"{type(self).__qualname__}({shown})"


class FrozenRecord(Record):
    """A ``Record`` whose fields cannot be assigned after ``__init__``, and hashable by them."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(getattr(self, name) for name in self._fields))

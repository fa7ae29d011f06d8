"""The contact-history statuses of a program and which of them count as contact.

A ``statuses { ... }`` block replaces the defaults (IBM Campaign's shipped statuses:
``proposed``, ``contacted`` counting as contact, ``undeliverable``, ``control``). Names
are matched without regard to case (``track "Undeliverable"`` is ``undeliverable``) and
stored as declared, so rows, reports and conditions agree on one spelling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: ``(name, counts as contact)`` when a program declares no ``statuses`` block.
DEFAULT_STATUSES: Final[tuple[tuple[str, bool], ...]] = (
    ("proposed", False),
    ("contacted", True),
    ("undeliverable", False),
    ("control", False),
)

#: The status a send's row gets when its campaign says nothing else.
SENT_STATUS: Final = "contacted"


class StatusTable:
    """Declared statuses by folded name; O(1) lookups.

    Args:
        statuses: ``(name, counts as contact)`` in declared order.
        declared: whether a ``statuses`` block wrote them (else they are the defaults).
    """

    __slots__ = ("_by_key", "counting", "declared", "names")

    def __init__(self, statuses: Iterable[tuple[str, bool]], declared: bool = False) -> None:
        self._by_key: dict[str, str] = {}
        names: list[str] = []
        counting: set[str] = set()
        for name, counts in statuses:
            key = name.casefold()
            if key in self._by_key:
                continue
            self._by_key[key] = name
            names.append(name)
            if counts:
                counting.add(name)
        #: Declared names, in declared order.
        self.names: tuple[str, ...] = tuple(names)
        #: The names whose rows count as contact (``count contacts``, contact caps).
        self.counting: frozenset[str] = frozenset(counting)
        self.declared = declared

    def resolve(self, name: str) -> str | None:
        """The declared spelling of ``name`` (matched without case), or None."""
        return self._by_key.get(name.casefold())

    def canonical(self, name: str) -> str:
        """The declared spelling of ``name``, or ``name`` itself when undeclared (a
        status a feed or an old rules file names, kept as written)."""
        return self._by_key.get(name.casefold(), name)

    def counts(self, name: str) -> bool:
        """Whether a row with status ``name`` counts as contact."""
        return name in self.counting


#: The table of a program without a ``statuses`` block.
DEFAULT_TABLE: Final = StatusTable(DEFAULT_STATUSES)

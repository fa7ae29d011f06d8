"""Event windows for ``had TYPE within D`` and ``count TYPE within D``.

Each window keeps, per contact, the times of the matching events still inside it (in
``Contact.extra``). A window changes by time alone when its oldest event leaves it, at
that event's time plus the window: the engine's timer index is told that moment, so
``count email.click within 7 days >= 3`` turns false on time, and re-arms its rule.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Callable, Sequence
from typing import Any

from engage.state.contact import WINDOWS, Contact


def record(contact: Contact, atom_id: int, moment: float, window: float, now: float) -> None:
    """Add an event time to a window, dropping the times that have left it."""
    windows = contact.more().setdefault(WINDOWS, {})
    times: list[float] = windows.setdefault(atom_id, [])
    insort(times, moment)
    prune(times, window, now)


def prune(times: list[float], window: float, now: float) -> None:
    """Drop event times at or before ``now - window`` (they are outside it)."""
    cut = 0
    limit = now - window
    while cut < len(times) and times[cut] <= limit:
        cut += 1
    if cut:
        del times[:cut]


def count(times: Sequence[float] | None, window: float, now: float) -> int:
    """How many of ``times`` are inside the window ending at ``now``."""
    if not times:
        return 0
    limit = now - window
    return sum(1 for moment in times if moment > limit)


def next_expiry(
    times: Sequence[float] | None,
    window: float,
    now: float,
    counts: Sequence[int] | None = None,
) -> float | None:
    """The next moment after ``now`` at which an event leaves the window; with
    ``counts`` (descending), the next at which the count drops from one of them (the
    drops a condition can see: see ``TimeAtom.counts``).

    Cost: a bisection and a look per count; without counts, a pass over the stored
    times (ascending) up to the first inside the window.
    """
    if not times:
        return None
    if counts is not None:
        start = bisect_right(times, now - window)
        inside = len(times) - start
        for left in counts:
            if left <= inside:
                # The count drops from ``left`` when the (inside - left)-th oldest
                # event inside leaves.
                leaves = times[start + inside - left] + window
                if leaves > now:
                    return leaves
                break  # rounding at the window's edge: fall back to every expiry
        else:
            return None
    for moment in times:
        leaves = moment + window
        if leaves > now:
            return leaves
    return None


def make_counter(atoms: Sequence[Any]) -> Callable[[Contact, int, float], int]:
    """The ``count`` reader that generated conditions call: ``(contact, atom id, now)``."""
    windows = {atom.id: atom.window for atom in atoms}

    def counter(contact: Contact, atom_id: int, now: float) -> int:
        extra = contact.extra
        if extra is None:
            return 0
        per_atom = extra.get(WINDOWS)
        if per_atom is None:
            return 0
        return count(per_atom.get(atom_id), windows[atom_id], now)

    return counter

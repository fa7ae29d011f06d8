"""How a section is timed, in one place so that every workload times the same way.

- ``time.perf_counter`` (monotonic, the highest resolution the platform has).
- The garbage collector is *collected, then disabled* for the timed section, for the
  engine and for its baseline alike. A full collection that happens to start inside one
  side's section (CPython triggers them by allocation counts, and a million contacts
  are a million tracked objects) would charge that side for garbage the other side or
  the generator made. With it off, both sides are charged for their own work only;
  reference counting still frees memory as usual.
- Best of N repeats (the minimum), with engine and baseline repeats interleaved so that
  slow drifts of the machine (frequency, other tenants) hit both sides alike. The
  minimum is the figure least disturbed by the rest of the machine; every repeat's time
  is kept in the JSON.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from time import perf_counter
from typing import TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], *, collect: bool = True) -> tuple[float, T]:
    """Run ``fn`` once with the collector off; returns (seconds, its result).

    ``collect`` runs a full collection first (skip it inside loops of many short
    sections, where a collection per section would dominate the run).
    """
    if collect:
        gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = perf_counter()
        result = fn()
        elapsed = perf_counter() - start
    finally:
        if enabled:
            gc.enable()
    return elapsed, result


class Frozen:
    """A context in which the objects alive now are moved out of the collector's sight.

    Used around long phases with many short timed sections (the 180 clock ticks): after
    ``gc.freeze()`` a collection no longer walks the million contacts already built, so
    the collector can stay off inside sections without a full collection before each.
    """

    def __enter__(self) -> Frozen:
        gc.collect()
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()

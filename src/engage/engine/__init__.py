"""The engine package: the façade (:class:`Engine`) and the parts it owns.

- :mod:`~engage.engine.state` — the state record (contacts, clock, dedupe, counters);
- :mod:`~engage.engine.journal` — the write-ahead log and its sequence numbers;
- :mod:`~engage.engine.admission` — the one way in for every record;
- :mod:`~engage.engine.inline` — plain points applied in place;
- :mod:`~engage.engine.dispatch` — handlers, outbox and failed actions;
- :mod:`~engage.engine.step` — one contact's work as a pure function of bytes;
- :mod:`~engage.engine.facade` — :class:`Engine`, which ties them together.
"""

from engage.engine.dispatch import Handler
from engage.engine.facade import Engine
from engage.engine.records import Rejected, Stats
from engage.engine.state import EngineState

__all__ = ["Engine", "EngineState", "Handler", "Rejected", "Stats"]

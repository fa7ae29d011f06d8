"""``engage report --csv``: who is where in which flow, since when, one row each.

One row per contact and flow it is or was in, read from the contacts' state
(``ContactView.flow_places``), so a replay and a state folder give the same export.
Rows are in contact id order, then flow name order; the same state gives the same
bytes. The columns (:data:`COLUMNS`, documented in ``docs/authoring.md``):

- ``contact``, ``flow``, ``version`` (the version the contact runs or ran);
- ``state``: ``inside`` or ``left``;
- ``step``, ``step_text``: the step a contact inside is at (its path and text), empty
  when it left or when its version is gone from the rules (then ``at`` still says);
- ``at``: the instruction index it is at (inside), else empty;
- ``since``: when it reached this step (inside) or when it left (left);
- ``until``: when its wait ends (a timed wait, a held send), else empty;
- ``reason``: why it left (``finished``, ``exit``, ``goal``, ``ended``, ``removed``,
  ``deleted``), empty while inside;
- ``entries``: how many times it entered;
- ``converted``: ``true`` when it reached the goal on its last entry, else ``false``.

Cost: one pass over the contacts; memory for one row at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any, Final

from engage.engine import Engine
from engage.report.flows import places, specs_of, step_of

COLUMNS: Final = (
    "contact",
    "flow",
    "version",
    "state",
    "step",
    "step_text",
    "at",
    "since",
    "until",
    "reason",
    "entries",
    "converted",
)


def rows(engine: Engine) -> list[list[Any]]:
    """Every row of the export (without the header), in its order. O(contacts)."""
    return list(_rows(engine))


def _rows(engine: Engine) -> Iterator[list[Any]]:
    specs = specs_of(engine)
    for contact, place in places(engine):
        inside = bool(place["inside"])
        if inside:
            path, text = step_of(specs.get((place["flow"], place["version"])), place["at"])
            where = [path or "", text or "", place["at"], place["since"], place.get("until", "")]
            reason = ""
        else:
            where = ["", "", "", place["left"], ""]
            reason = place["reason"]
        yield [
            contact,
            place["flow"],
            place["version"],
            "inside" if inside else "left",
            *where,
            reason,
            place["entries"],
            "true" if place.get("converted") else "false",
        ]


def write(engine: Engine, stream: IO[str]) -> int:
    """Write the header and every row as CSV to ``stream``; returns the rows written.
    One pass over the contacts, a row at a time."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    for row in _rows(engine):
        writer.writerow(row)
        count += 1
    return count

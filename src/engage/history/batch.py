"""``engage track``: tracking a list of contact ids in one batch.

The mail-house lists of IBM Campaign's Track process: a confirmation list (the ids the
mail house really sent to) or an undeliverable list, applied to one campaign's rows
with a status, in one of the three modes (:mod:`engage.history.track`). ``others``
gives the status for the campaign's rows whose contact is *not* in the list (the rest
of a confirmation list become ``undeliverable``, say).

Decisions (docs/history.md):

- **Ids** come from a CSV file (a column named ``id`` or ``contact``, else the first
  column) or a text file (one id a line; blank lines and ``#`` comments skipped);
  repeats count once.
- **Unknown ids** (no such contact) are reported; a mode that creates (``create``,
  ``both``) creates the contact with its row, ``update`` does nothing for them.
- **Idempotence**: a batch is identified by its key, a digest of its status, campaign,
  offer, mode, ``others`` and set of ids (not its time). The engine remembers applied
  keys (in snapshots); a batch whose key is known changes nothing. Row by row the same
  holds anyway for ``update`` and ``both``: a row that has the status is left alone.
- **Durability**: when the engine writes an event log, the batch goes to it as entries
  of at most :data:`CHUNK` ids each (``{"h": {...}}``), each written before it is
  applied; ``others`` is resolved to explicit ids first, so a replay does exactly what
  the first run did; a last entry marks the batch done. ``engage track`` then writes a
  snapshot (a checkpoint), so the log it leaves is short.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from engage.history.rows import CAMPAIGN, OFFER, Row, normalize
from engage.history.track import MODES, Mode
from engage.state.contact import HISTORY

if TYPE_CHECKING:
    from engage.actions import Action
    from engage.engine.facade import Engine

#: The key of a batch entry in the event log.
FRAME_KEY: Final = "h"
#: The most ids one log entry carries (an entry stays well under the log's frame limit).
CHUNK: Final = 50_000
#: How many unknown ids a result lists by name (all are counted).
MAX_LISTED: Final = 100
#: Column names that hold the ids in a CSV file (case ignored).
ID_COLUMNS: Final = ("id", "contact", "contact_id")


@attrs.define
class Batch:
    """One batch of tracking."""

    status: str
    campaign: str
    ids: Sequence[str]
    offer: str | None = None
    mode: Mode = "both"
    #: The status of the campaign's rows whose contact is not listed (None: left alone).
    others: str | None = None
    #: The moment of the tracking (None: the engine clock).
    at: float | None = None


@attrs.define
class BatchResult:
    """What a batch did (``engage track`` prints it as JSON)."""

    key: str
    #: False when the batch was applied before (by its key): nothing changed.
    applied: bool = True
    listed: int = 0
    updated: int = 0
    created: int = 0
    unchanged: int = 0
    #: Listed contacts with no row to update (``update`` mode).
    no_row: int = 0
    #: Listed ids with no contact (created in a mode that creates).
    unknown: int = 0
    unknown_ids: list[str] = attrs.Factory(list)
    others: int = 0
    others_updated: int = 0
    actions: list[Action] = attrs.Factory(list)

    def summary(self) -> dict[str, Any]:
        """The counts as plain data (what the engine remembers with the key)."""
        out = attrs.asdict(self, filter=lambda a, _: a.name != "actions")
        out["actions"] = len(self.actions)
        return out


def read_ids(path: str | os.PathLike[str]) -> list[str]:
    """The ids of a CSV or text file (``.gz`` read through), in file order, repeats
    kept (:func:`batch_key` and :func:`apply` count each once). O(file)."""
    name = os.fspath(path)
    opener: Any = gzip.open if name.endswith(".gz") else open
    with opener(name, "rt", encoding="utf-8-sig", newline="") as handle:
        text = handle.read()
    base = name[:-3] if name.endswith(".gz") else name
    if base.lower().endswith(".csv"):
        return list(_csv_ids(text))
    return [line for line in map(str.strip, text.splitlines()) if line and line[0] != "#"]


def _csv_ids(text: str) -> Iterator[str]:
    rows = csv.reader(io.StringIO(text))
    first = next(rows, None)
    if first is None:
        return
    names = [cell.strip().lower() for cell in first]
    column = next((names.index(n) for n in ID_COLUMNS if n in names), None)
    if column is None:
        column = 0
        if first and first[0].strip():
            yield first[0].strip()
    for row in rows:
        if len(row) > column and row[column].strip():
            yield row[column].strip()


def unique(ids: Iterable[str]) -> list[str]:
    """``ids`` in first-seen order, each once."""
    return list(dict.fromkeys(ids))


def batch_key(status: str, batch: Batch, ids: Sequence[str]) -> str:
    """The batch's identity: its status, campaign, offer, mode, others and set of ids
    (not its time). Cost: a sort and a digest of the ids."""
    head = [status, batch.campaign, batch.offer, batch.mode, batch.others]
    digest = hashlib.sha256(json.dumps(head).encode())
    digest.update("\0".join(sorted(ids)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def _declared(engine: Engine, status: str) -> str:
    statuses = engine.program.statuses
    declared = statuses.resolve(status)
    if declared is None:
        raise ValueError(
            f"unknown status {status!r}; the statuses are "
            + ", ".join(repr(name) for name in statuses.names)
        )
    return str(declared)


def apply(engine: Engine, batch: Batch) -> BatchResult:
    """Apply ``batch`` to ``engine`` (see the module docstring).

    Raises:
        ValueError: an undeclared status or an unknown mode (before anything changes).
    """
    if batch.mode not in MODES:
        raise ValueError(f"unknown mode {batch.mode!r} (both, update or create)")
    status = _declared(engine, batch.status)
    others = None if batch.others is None else _declared(engine, batch.others)
    ids = unique(batch.ids)
    key = batch_key(status, batch, ids)
    result = BatchResult(key, listed=len(ids))
    history = engine.state.history
    if key in history.batches:
        result.applied = False
        return result
    if batch.at is not None and (engine.now is None or batch.at > engine.now):
        result.actions.extend(engine.advance(batch.at))
    at = engine.state.clock_or_zero() if batch.at is None else batch.at
    parts = {"key": key, "campaign": batch.campaign, "offer": batch.offer, "at": at}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        entry = {**parts, "status": status, "mode": batch.mode, "ids": chunk}
        engine.journal.record(FRAME_KEY, entry)
        _count(
            result,
            engine.apply_tracking(
                chunk, status, batch.campaign, batch.offer, batch.mode, at, result.actions
            ),
        )
    if others is not None:
        listed = set(ids)
        rest = [
            cid
            for cid in _campaign_contacts(engine, batch.campaign, batch.offer)
            if cid not in listed
        ]
        result.others = len(rest)
        for start in range(0, len(rest), CHUNK):
            chunk = rest[start : start + CHUNK]
            entry = {**parts, "status": others, "mode": "update", "ids": chunk}
            engine.journal.record(FRAME_KEY, entry)
            counts = engine.apply_tracking(
                chunk, others, batch.campaign, batch.offer, "update", at, result.actions
            )
            result.others_updated += counts["updated"]
    summary = result.summary()
    engine.journal.record(FRAME_KEY, {"key": key, "done": summary})
    history.note_batch(key, summary)
    return result


def _count(result: BatchResult, counts: dict[str, Any]) -> None:
    result.updated += counts["updated"]
    result.created += counts["created"]
    result.unchanged += counts["unchanged"]
    result.no_row += counts["no row"]
    unknown: list[str] = counts["unknown"]
    result.unknown += len(unknown)
    room = MAX_LISTED - len(result.unknown_ids)
    if room > 0:
        result.unknown_ids.extend(unknown[:room])


def _campaign_contacts(engine: Engine, campaign: str, offer: str | None) -> Iterator[str]:
    """Ids of the contacts with a row of ``campaign`` (and ``offer``), in id order.
    O(contacts): there is no index by campaign."""
    contacts = engine.state.contacts
    for contact_id in sorted(contacts):
        extra = contacts[contact_id].extra
        rows = None if extra is None else extra.get(HISTORY)
        if rows and any(
            row[CAMPAIGN] == campaign and (offer is None or row[OFFER] == offer) for row in rows
        ):
            yield contact_id


def replay(engine: Engine, entry: Any) -> list[Action]:
    """Apply a batch entry of the event log as it was applied the first time."""
    out: list[Action] = []
    if not isinstance(entry, dict):
        return out
    if "done" in entry:
        summary = entry["done"]
        engine.state.history.note_batch(str(entry.get("key")), dict(summary))
        return out
    engine.apply_tracking(
        list(entry.get("ids", ())),
        str(entry["status"]),
        entry.get("campaign"),
        entry.get("offer"),
        entry.get("mode", "both"),
        float(entry["at"]),
        out,
    )
    return out


def readable_rows(rows: Any) -> list[Row]:
    """Stored rows in the current layout (older layouts converted; see
    :func:`engage.history.rows.normalize`)."""
    return normalize(rows)[0]

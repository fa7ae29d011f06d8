"""Memory per contact: what the engine keeps for a contact with a score, 2 fields, 2 tags.

Two measurements, because each misses something the other sees:

- **tracemalloc** (in this process): tracing starts once the rules are compiled and an
  empty engine exists; the ``contact.updated`` events are produced lazily and ingested;
  after a full collection, the traced memory still alive is what the engine retained
  for its contacts (their ids, objects, lists, tuples, dict slots). It is exact and
  repeatable, but it counts requested bytes: the allocator's rounding (pymalloc rounds
  every small block up to a multiple of 16) and its fragmentation are not in it.
- **RSS delta** (in a fresh interpreter, without tracing): the resident set size after
  ingesting, minus before. That is what the machine pays, allocator overhead included.
  The events are produced lazily here too, so no event list inflates it: a list of a
  million event dicts would leave freed-but-not-returned arenas behind and make the
  delta meaningless.

The target (issue 2: at most 600 bytes per contact at 1M contacts) is judged on the
larger of the two. Both are also given after ``engine.top("score", 10)``, which builds
the sorted score index (a ``SortedList`` of ``(score, id)`` pairs).

:func:`breakdown` adds a ``sys.getsizeof`` account of one typical contact, object by
object, so that a figure over target says where the bytes are.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import tracemalloc
from typing import Any, Final

import engage
from engage.bench.generator import RealisticColumns, profile_updates
from engage.bench.rulesets import MEMORY_RULES, REALISTIC_RULES
from engage.state.contact import NO_MORE_SCORES, score_values


def _loaded_engine() -> tuple[engage.Rules, engage.Engine]:
    rules = engage.compile(MEMORY_RULES, name="memory.rules")
    return rules, engage.Engine(rules)


def _check(engine: engage.Engine, contacts: int) -> None:
    if len(engine) != contacts or engine.rejected or engine.problems:
        raise AssertionError(
            f"memory workload: {len(engine)} contacts of {contacts}, "
            f"rejected {engine.rejected[:3]}, problems {engine.problems[:3]}"
        )
    view = engine.contact("c0000000")
    if (
        view is None
        or len(view.tags) != 2
        or len(view.fields) != 2
        or view.scores.get("score") is None
    ):
        raise AssertionError(f"memory workload: contact c0000000 is not as generated: {view}")


def traced(contacts: int) -> dict[str, Any]:
    """Bytes per contact retained by the engine, by tracemalloc (see the module doc)."""
    _, engine = _loaded_engine()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        engine.ingest_many(profile_updates(contacts))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        engine.top("score", 10)
        gc.collect()
        indexed = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    _check(engine, contacts)
    result = {
        "bytes_per_contact": (after - before) / contacts,
        "bytes_per_contact_indexed": (indexed - before) / contacts,
        "breakdown": breakdown(engine, contacts),
    }
    del engine
    gc.collect()
    return result


def _rss() -> int | None:
    """The resident set size of this process in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            resident = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return resident * os.sysconf("SC_PAGE_SIZE")


def rss_child(contacts: int) -> dict[str, Any]:
    """The RSS measurement; run in a fresh interpreter by :func:`rss`."""
    _, engine = _loaded_engine()
    gc.collect()
    before = _rss()
    engine.ingest_many(profile_updates(contacts))
    gc.collect()
    after = _rss()
    engine.top("score", 10)
    gc.collect()
    indexed = _rss()
    _check(engine, contacts)
    if before is None or after is None or indexed is None:
        return {"bytes_per_contact": None, "bytes_per_contact_indexed": None}
    return {
        "bytes_per_contact": (after - before) / contacts,
        "bytes_per_contact_indexed": (indexed - before) / contacts,
    }


def rss(contacts: int) -> dict[str, Any]:
    """Bytes per contact by RSS delta, measured in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "from engage.bench.memory import rss_child\n"
        "print(json.dumps(rss_child(int(sys.argv[1]))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(contacts)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"bytes_per_contact": None, "error": done.stderr.strip()[-2000:]}
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def breakdown(engine: engage.Engine, contacts: int) -> dict[str, float]:
    """``sys.getsizeof`` of one typical contact's objects, plus its share of the dict.

    Shared objects (the interned tag and field strings from the generator's
    vocabularies, small ints) are not counted: they exist once per engine, not per
    contact. The contact dict's share is its size divided by the number of contacts.
    """
    store = engine.state.contacts  # the state record's table: a diagnostic, read only
    contact = store["c0000000"]
    sizes: dict[str, float] = {
        "contact_object": sys.getsizeof(contact),
        "id_string": sys.getsizeof(contact.id),
        # The first score has a slot of its own; a shared empty list when it is the only one.
        "more_scores_list": (
            sys.getsizeof(contact.more_scores) if contact.more_scores is not NO_MORE_SCORES else 0
        ),
        "fields_list": sys.getsizeof(contact.fields) if contact.fields is not None else 0,
        "tags_tuple": sys.getsizeof(contact.tags),
        "created_float": sys.getsizeof(contact.created),
        "score_values": sum(
            sys.getsizeof(v) for v in score_values(contact) if isinstance(v, float)
        ),
        "extra_dict": sys.getsizeof(contact.extra) if contact.extra is not None else 0,
        "contacts_dict_share": sys.getsizeof(store) / contacts,
    }
    if contact.last_activity is not None:
        sizes["last_activity_float"] = sys.getsizeof(contact.last_activity)
    sizes["total"] = sum(sizes.values())
    return sizes


def memory(contacts: int) -> dict[str, Any]:
    """Both measurements at ``contacts`` contacts (see the module doc)."""
    inside = traced(contacts)
    outside = rss(contacts)
    candidates = [
        value
        for value in (inside["bytes_per_contact"], outside.get("bytes_per_contact"))
        if value is not None
    ]
    return {
        "contacts": contacts,
        "tracemalloc": inside,
        "rss": outside,
        "bytes_per_contact": max(candidates),
    }


# -- the realistic workload's memory ------------------------------------------------------

#: Events per ``ingest_many`` call when measuring memory: a host feeds a stream in
#: batches and drains the outbox after each, so that no action outlives its batch.
BATCH: Final = 10_000


def _ingest_realistic(engine: engage.Engine, columns: RealisticColumns) -> None:
    batch: list[dict[str, Any]] = []
    for event in columns.events():
        batch.append(event)
        if len(batch) == BATCH:
            engine.ingest_many(batch)
            engine.drain_outbox()
            batch = []
    engine.ingest_many(batch)
    engine.drain_outbox()


def _realistic_engine() -> engage.Engine:
    return engage.Engine(engage.compile(REALISTIC_RULES, name="realistic.rules"))


def _check_realistic(engine: engage.Engine, contacts: int) -> None:
    if len(engine) != contacts or engine.rejected or engine.problems:
        raise AssertionError(
            f"realistic memory: {len(engine)} contacts of {contacts}, "
            f"rejected {engine.rejected[:3]}, problems {engine.problems[:3]}"
        )


def realistic_traced(columns: RealisticColumns) -> float:
    """Bytes per contact the engine retains with the realistic rules, by tracemalloc.

    The columns exist before tracing starts (they are the input, not the engine's);
    the events are made from them one batch at a time.
    """
    engine = _realistic_engine()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        _ingest_realistic(engine, columns)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    _check_realistic(engine, columns.contacts)
    return (after - before) / columns.contacts


def realistic_rss_child(path: str) -> dict[str, Any]:
    """The RSS measurement with the realistic rules; run in a fresh interpreter."""
    columns = RealisticColumns.load(path)
    engine = _realistic_engine()
    gc.collect()
    before = _rss()
    _ingest_realistic(engine, columns)
    gc.collect()
    after = _rss()
    _check_realistic(engine, columns.contacts)
    if before is None or after is None:
        return {"bytes_per_contact": None}
    return {"bytes_per_contact": (after - before) / columns.contacts}


def realistic_memory(
    contacts: int, *, events_per_contact: int, seed: int, zipf: float
) -> dict[str, Any]:
    """Bytes per contact with the realistic rules after the realistic stream.

    What a contact costs once real rules have run on it: two scores, cap windows, the
    visit window, rule marks (cooldowns, disarmed rules), tags, pending wake-ups. As for
    :func:`memory`: tracemalloc in this process, the RSS delta in a fresh interpreter
    (which reads the stream's compact columns from a file, so that building them leaves
    no freed memory behind for the engine to reuse), and the larger is the figure.
    A million contacts with ten events each take minutes per measurement.
    """
    columns = RealisticColumns.generate(
        contacts, contacts * events_per_contact, seed=seed, zipf=zipf
    )
    inside = realistic_traced(columns)
    with tempfile.TemporaryDirectory(prefix="engage-bench-") as folder:
        path = os.path.join(folder, "stream.columns")
        columns.save(path)
        del columns
        gc.collect()
        code = (
            "import json, sys\n"
            "from engage.bench.memory import realistic_rss_child\n"
            "print(json.dumps(realistic_rss_child(sys.argv[1])))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, path], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        outside: dict[str, Any] = {"bytes_per_contact": None, "error": done.stderr[-2000:]}
    else:
        outside = json.loads(done.stdout.strip().splitlines()[-1])
    candidates = [v for v in (inside, outside.get("bytes_per_contact")) if v is not None]
    return {
        "contacts": contacts,
        "events_per_contact": events_per_contact,
        "tracemalloc_bytes_per_contact": inside,
        "rss_bytes_per_contact": outside.get("bytes_per_contact"),
        "rss_error": outside.get("error"),
        "bytes_per_contact": max(candidates),
    }

"""Seeded, deterministic generators of benchmark events.

Every workload of ``engage bench`` feeds the engine plain event dicts, the shape a host
hands to :meth:`engage.Engine.ingest_many`. They are built here, before any clock
starts, so that the timed section measures the engine and not the generator.

Activity is a power law across contacts, because that is what engagement data looks
like: a few contacts open, click and visit all the time; most do something once or
twice. Contact of rank ``r`` (0-based) gets events with weight ``1 / (r + 1) ** s``
(Zipf-like, exponent ``s``). So that a run "with N contacts" really has N contacts in
the engine, every contact gets one event of its own and the rest of the events are
drawn from the Zipf weights; ranks are shuffled onto ids so that hot contacts are not
the lexicographically first ones.

Event types follow fixed weights (:data:`EVENT_TYPES`) in the proportions an e-mail
programme sees: sends dominate, opens are about half of the sends, clicks a third of
the opens, form fills and bounces are rare. Times are epoch seconds (float), strictly
increasing through a window that starts at :data:`START`.

The same seed gives the same list on every run and every machine: only
:class:`random.Random` with an explicit seed is used, never the global generator.
"""

from __future__ import annotations

import gc
import random
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import wraps
from itertools import accumulate
from typing import Any, Final, TypeVar

T = TypeVar("T")

#: 2026-01-01T00:00:00Z, the start of every generated stream.
START: Final = 1_767_225_600.0
DAY: Final = 86_400.0

#: Event types and their relative weights (sum 100: read them as percentages).
EVENT_TYPES: Final[tuple[tuple[str, float], ...]] = (
    ("email.sent", 45.0),
    ("email.open", 25.0),
    ("web.visit", 17.0),
    ("email.click", 8.0),
    ("form.submit", 3.0),
    ("email.bounce", 2.0),
)

#: The default Zipf exponent. 1.0 would hand the top contact of a million ~7% of all
#: events (a bot, not a person); 0.8 keeps a heavy head (top contact ~1.3%) and a long tail.
DEFAULT_ZIPF: Final = 0.8

#: Vocabularies for ``contact.updated`` data (shared string objects, as a host that
#: interns or reuses values would pass them; the memory page says so).
CITIES: Final = (
    "Bogotá",
    "Medellín",
    "Cali",
    "Barranquilla",
    "Lima",
    "Quito",
    "Santiago",
    "Buenos Aires",
    "Madrid",
    "Ciudad de México",
    "São Paulo",
    "Montevideo",
)
PLANS: Final = ("free", "starter", "pro", "enterprise")
TAGS: Final = (
    "newsletter",
    "webinar",
    "trial",
    "customer",
    "partner",
    "press",
    "vip",
    "event-2026",
    "churn-risk",
    "upsell",
    "beta",
    "referral",
)


def _without_gc(fn: Callable[..., T]) -> Callable[..., T]:
    """Build big lists with the collector paused: millions of fresh dicts would otherwise
    set off collections that walk everything built so far (a third of the time)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


def contact_id(index: int) -> str:
    """The id of contact number ``index`` (stable across workloads)."""
    return f"c{index:07d}"


def zipf_cum_weights(n: int, exponent: float) -> list[float]:
    """Cumulative Zipf weights of ranks ``0..n-1`` (for :meth:`random.Random.choices`)."""
    return list(accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def activity_contacts(
    contacts: int, events: int, *, seed: int, zipf: float = DEFAULT_ZIPF
) -> list[int]:
    """The contact index of each of ``events`` events: power law, every contact present.

    The first ``contacts`` slots give each contact one event (so all exist); the rest
    are Zipf draws over shuffled ranks; then the whole sequence is shuffled.
    """
    if contacts <= 0:
        raise ValueError("contacts must be positive")
    if events < contacts:
        raise ValueError(f"events ({events}) must be at least contacts ({contacts})")
    rng = random.Random(seed)
    by_rank = list(range(contacts))
    rng.shuffle(by_rank)
    drawn = rng.choices(by_rank, cum_weights=zipf_cum_weights(contacts, zipf), k=events - contacts)
    sequence = list(range(contacts))
    sequence.extend(drawn)
    rng.shuffle(sequence)
    return sequence


def event_times(
    count: int, *, seed: int, start: float = START, span: float = 90 * DAY
) -> list[float]:
    """``count`` strictly increasing epoch times spread evenly over ``[start, start+span)``.

    Each time is its slot's start plus a random fraction of the slot, so gaps vary and
    no two events share a moment (which would make the decay arithmetic too regular).
    """
    rng = random.Random(seed ^ 0x5EED)
    step = span / count
    rand = rng.random
    # 0.999 keeps slot i strictly below slot i + 1 even after float rounding.
    return [start + (i + 0.999 * rand()) * step for i in range(count)]


@_without_gc
def activity_events(
    contacts: int,
    events: int,
    *,
    seed: int = 1,
    zipf: float = DEFAULT_ZIPF,
    start: float = START,
    span: float = 90 * DAY,
    ids: bool = False,
    types: Sequence[tuple[str, float]] = EVENT_TYPES,
) -> list[dict[str, Any]]:
    """A stream of contact activity events as plain dicts, in time order.

    Args:
        contacts: how many distinct contacts (each gets at least one event).
        events: total number of events (>= contacts).
        seed: the seed; the same arguments give the same list.
        zipf: the power-law exponent of activity across contacts.
        start, span: the events' times lie in ``[start, start + span)``.
        ids: give each event an ``id`` (makes ingestion idempotent; costs a dedupe
            lookup per event in the engine).
        types: event types with their weights.
    """
    who = activity_contacts(contacts, events, seed=seed, zipf=zipf)
    rng = random.Random(seed ^ 0x7E9E5)
    names = [name for name, _ in types]
    kinds = rng.choices(names, cum_weights=list(accumulate(w for _, w in types)), k=events)
    times = event_times(events, seed=seed, start=start, span=span)
    ident = [contact_id(i) for i in range(contacts)]
    if ids:
        return [
            {"id": f"e{n}", "contact": ident[c], "type": k, "at": t}
            for n, (c, k, t) in enumerate(zip(who, kinds, times, strict=True))
        ]
    return [
        {"contact": ident[c], "type": k, "at": t} for c, k, t in zip(who, kinds, times, strict=True)
    ]


def profile_update(index: int, rng: random.Random, at: float) -> dict[str, Any]:
    """One ``contact.updated`` event giving contact ``index`` a score, two fields, two tags."""
    first, second = rng.sample(TAGS, 2)
    return {
        "contact": contact_id(index),
        "type": "contact.updated",
        "at": at,
        "data": {
            "city": rng.choice(CITIES),
            "plan": rng.choice(PLANS),
            "tags": [first, second],
            "score": round(rng.uniform(0.0, 100.0), 2),
        },
    }


def profile_updates(
    contacts: int, *, seed: int = 2, start: float = START, span: float = DAY
) -> Iterator[dict[str, Any]]:
    """Lazily, one ``contact.updated`` event per contact (see :func:`profile_update`).

    Lazy on purpose: the memory workload measures what the engine keeps, so the input
    must never exist as a whole list beside it.
    """
    rng = random.Random(seed)
    step = span / contacts
    for index in range(contacts):
        yield profile_update(index, rng, start + index * step)


def type_counts(events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many events of each type (for the report and the tests)."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    return counts


# -- the realistic workload's stream: activity with event data --------------------------

#: What the realistic stream's events carry in ``data``, by type: (key, weighted values).
#: Pages and forms of a B2B site; a campaign on every e-mail; a bounce kind. The values
#: are shared string objects, as a host that reuses them passes them.
EVENT_DATA: Final[dict[str, tuple[tuple[str, tuple[tuple[str, float], ...]], ...]]] = {
    "web.visit": (
        (
            "url",
            (
                ("/", 20.0),
                ("/features", 13.0),
                ("/pricing", 12.0),
                ("/pricing/enterprise", 5.0),
                ("/blog/lead-scoring-101", 10.0),
                ("/blog/release-notes", 8.0),
                ("/blog/case-study-acme", 7.0),
                ("/docs/getting-started", 8.0),
                ("/docs/api", 7.0),
                ("/careers", 5.0),
                ("/contact", 5.0),
            ),
        ),
    ),
    "email.click": (
        (
            "campaign",
            (
                ("newsletter", 40.0),
                ("product-launch", 25.0),
                ("webinar-invite", 20.0),
                ("onboarding", 15.0),
            ),
        ),
        ("link", (("product", 40.0), ("blog", 35.0), ("webinar", 15.0), ("preferences", 10.0))),
    ),
    "form.submit": (
        ("form", (("demo", 20.0), ("newsletter", 45.0), ("contact", 20.0), ("webinar", 15.0))),
    ),
    "email.bounce": (("kind", (("hard", 30.0), ("soft", 70.0))),),
}
#: E-mail sends and opens carry their campaign (the same weights as the clicks').
EVENT_DATA["email.sent"] = EVENT_DATA["email.open"] = (EVENT_DATA["email.click"][0],)


class RealisticColumns:
    """The realistic stream in compact columns: no Python object per event.

    ``who`` (contact index), ``kinds`` (index into :data:`EVENT_TYPES`), ``times`` and
    ``draws`` (a fraction in [0, 1) per event, which picks each data value) are arrays;
    :meth:`events` turns them into event dicts one at a time. The memory workload keeps
    the columns (tens of bytes per event) alive beside the engine instead of a list of
    dicts (hundreds), and can write them to a file for a fresh interpreter.
    """

    __slots__ = ("contacts", "draws", "kinds", "times", "who")

    def __init__(self, contacts: int, who: Any, kinds: Any, times: Any, draws: Any) -> None:
        self.contacts = contacts
        self.who = who
        self.kinds = kinds
        self.times = times
        self.draws = draws

    @classmethod
    def generate(
        cls, contacts: int, events: int, *, seed: int = 1, zipf: float = DEFAULT_ZIPF
    ) -> RealisticColumns:
        """The same contacts, types and times as :func:`activity_events` with these arguments."""
        who = array("i", activity_contacts(contacts, events, seed=seed, zipf=zipf))
        rng = random.Random(seed ^ 0x7E9E5)
        kinds = array(
            "b",
            rng.choices(
                range(len(EVENT_TYPES)),
                cum_weights=list(accumulate(w for _, w in EVENT_TYPES)),
                k=events,
            ),
        )
        times = array("d", event_times(events, seed=seed))
        draws = random.Random(seed ^ 0xDA7A)
        return cls(contacts, who, kinds, times, array("d", (draws.random() for _ in range(events))))

    def save(self, path: str) -> None:
        """Write the columns to ``path`` (read back by :meth:`load`)."""
        with open(path, "wb") as handle:
            handle.write(array("q", [self.contacts, len(self.who)]).tobytes())
            for column in (self.who, self.kinds, self.times, self.draws):
                column.tofile(handle)

    @classmethod
    def load(cls, path: str) -> RealisticColumns:
        """The columns :meth:`save` wrote, without building a Python object per event."""
        with open(path, "rb") as handle:
            head = array("q")
            head.fromfile(handle, 2)
            contacts, count = head
            columns = []
            for code in ("i", "b", "d", "d"):
                column = array(code)
                column.fromfile(handle, count)
                columns.append(column)
        return cls(contacts, *columns)

    def events(self) -> Iterator[dict[str, Any]]:
        """The stream as event dicts, produced lazily, in time order."""
        ident = [contact_id(i) for i in range(self.contacts)]
        names = [name for name, _ in EVENT_TYPES]
        pickers = [_pickers(EVENT_DATA.get(name, ())) for name in names]
        for c, k, t, u in zip(self.who, self.kinds, self.times, self.draws, strict=True):
            data = {key: pick(u) for key, pick in pickers[k]}
            yield {"contact": ident[c], "type": names[k], "at": t, "data": data}


def _pickers(
    spec: tuple[tuple[str, tuple[tuple[str, float], ...]], ...],
) -> list[tuple[str, Callable[[float], str]]]:
    """For each data key, a function from a fraction in [0, 1) to a weighted value.

    Several keys of one event read the same fraction from different digits of it
    (``u``, then ``u * 64 mod 1``), so one draw per event serves them all.
    """
    out: list[tuple[str, Callable[[float], str]]] = []
    for position, (key, table) in enumerate(spec):
        values = [value for value, _ in table]
        total = sum(weight for _, weight in table)
        bounds = [bound / total for bound in accumulate(weight for _, weight in table)]
        scale = 64.0**position

        def pick(
            u: float, values: list[str] = values, bounds: list[float] = bounds, scale: float = scale
        ) -> str:
            return values[min(bisect_right(bounds, (u * scale) % 1.0), len(values) - 1)]

        out.append((key, pick))
    return out


@_without_gc
def realistic_events(
    contacts: int, events: int, *, seed: int = 1, zipf: float = DEFAULT_ZIPF
) -> list[dict[str, Any]]:
    """The realistic workload's stream as a list of event dicts with ``data``.

    The contacts, types and times of :func:`activity_events`, plus what real events
    carry (:data:`EVENT_DATA`): a page's url, a link and campaign, a form name, a
    bounce kind. Seeded and deterministic like every generator here.
    """
    return list(RealisticColumns.generate(contacts, events, seed=seed, zipf=zipf).events())

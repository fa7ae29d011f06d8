"""One contact's work as a pure function of bytes: the per-contact step.

An engine holds every contact in one process. Past one machine, a stream processor
keeps each contact's state under its key and calls, per event and per due timer::

    step(rules, state_bytes | None, event) -> StepResult(state_bytes, actions, next_wake, deltas)
    wake(rules, state_bytes, moment)       -> StepResult(...)

The state bytes hold everything the engine keeps for the contact (its record, the clock
it was last brought to, its decay references: :func:`engage.state.contact.encode_state`).
``next_wake`` is when ``wake`` must be called next (None: never, until the next event).
``deltas`` are what cross-contact structures need to follow the contact without looking
at it: score values, segment entries and exits, last activity, the discarded flag,
creation and deletion.

Driving every contact through ``step`` and ``wake`` in time order — before each event,
the due wake-ups, earliest first — gives the actions and state of one engine fed the same
stream (``tests/test_step.py`` checks it). What stays outside the step, as in any keyed
stream job: deduplication of event ids across contacts, and the order of events.

Cost: decoding and encoding the contact's record (msgpack) around the engine's own
work for the event; the engine itself is built once per rules object.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import attrs

from engage.actions import Action
from engage.b2b.members import MemberDelta, Membership, member_delta
from engage.engine.facade import Engine
from engage.program import SegmentSpec
from engage.rules import Rules
from engage.state.contact import Contact, decode_state, encode_state, score_of
from engage.state.view import ContactView
from engage.time.valuation import is_discarded

#: Per rules object, the engine that runs steps for it (one contact at a time).
_STEPPERS: weakref.WeakKeyDictionary[Rules, ContactStepper] = weakref.WeakKeyDictionary()


@attrs.frozen
class Deltas:
    """What one step changed that cross-contact structures read.

    ``scores`` maps each score whose value changed to ``(before, after)`` as read at the
    step's clock (None: empty); ``entered`` and ``left`` name segments;
    ``last_activity`` and ``discarded`` are ``(before, after)`` when they changed.
    ``account`` (rules with accounts) is the contact's
    :class:`~engage.b2b.members.MemberDelta` over the step — its account and its
    roll-up contributions before and after — when they changed: what the account
    stage, keyed by account, applies to its aggregates (docs/accounts.md).
    """

    contact: str
    created: bool = False
    deleted: bool = False
    scores: dict[str, tuple[Any, Any]] = attrs.Factory(dict)
    entered: tuple[str, ...] = ()
    left: tuple[str, ...] = ()
    last_activity: tuple[float | None, float | None] | None = None
    discarded: tuple[bool, bool] | None = None
    account: MemberDelta | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.created
            or self.deleted
            or self.scores
            or self.entered
            or self.left
            or self.last_activity
            or self.discarded
            or self.account
        )


@attrs.frozen
class StepResult:
    """The contact's new state (None once it was deleted), the actions the step caused
    (in the engine's order), its next wake-up, and the deltas."""

    state: bytes | None
    actions: list[Action]
    next_wake: float | None
    deltas: Deltas


def step(rules: Rules, state: bytes | None, event: Any) -> StepResult:
    """Apply one event to one contact (``state`` None: the contact is new).

    Wake-ups of the contact due at or before the event's time fire first, as in an
    engine. A bad record changes nothing: the result carries the same state and no
    actions (the engine's rejection of it is in :func:`stepper` ``(rules).rejected``).
    """
    return stepper(rules).step_event(state, event)


def wake(rules: Rules, state: bytes, moment: float) -> StepResult:
    """Bring one contact to ``moment``: fire its wake-ups due by then, in order."""
    return stepper(rules).step_wake(state, moment)


def read(rules: Rules, state: bytes, moment: float) -> dict[str, Any]:
    """The contact of ``state`` as its ``--dump`` object at ``moment`` (nothing fires:
    call :func:`wake` first to bring it there)."""
    return stepper(rules).view(state, moment)


def stepper(rules: Rules) -> ContactStepper:
    """The engine that runs steps for ``rules`` (made on first use, then reused)."""
    found = _STEPPERS.get(rules)
    if found is None:
        found = _STEPPERS[rules] = ContactStepper(rules)
    return found


class ContactStepper(Engine):
    """An engine that holds one contact at a time, loaded from and saved to bytes.

    Not for hosts to feed directly: each call replaces the contact it holds.
    """

    def __init__(self, rules: Rules) -> None:
        # The stream processor deduplicates; a window here would mix contacts' ids.
        super().__init__(rules, dedupe_window=0)
        program = self.program
        self._list_fields = [i for i, spec in enumerate(program.fields) if spec.type == "list"]
        self._score_names = tuple(spec.name for spec in program.scores)
        self._before: _Reading | None = None
        if self._b2b is not None:
            self._b2b.stage = False
            self._b2b.collected = []

    def step_event(self, state: bytes | None, event: Any) -> StepResult:
        contact_id = self._load(state)
        rejected = len(self.state.rejected)
        actions = self.ingest(event)
        if contact_id is None and len(self.state.rejected) == rejected:
            contact_id = next(iter(self.state.contacts), None)
            if contact_id is None:  # a deletion of a contact never seen
                contact_id = event.get("contact", "") if isinstance(event, dict) else ""
        return self._save(contact_id or "", state, actions)

    def step_wake(self, state: bytes, moment: float) -> StepResult:
        contact_id = self._load(state)
        actions = self.advance(moment)
        return self._save(contact_id or "", state, actions)

    def view(self, state: bytes, moment: float) -> dict[str, Any]:
        contact_id = self._load(state)
        assert contact_id is not None
        return ContactView(self.program, self.state.contacts[contact_id], moment).to_dict()

    # -- one contact in, one out ------------------------------------------------------

    def _load(self, blob: bytes | None) -> str | None:
        """Empty the engine, then hold the contact of ``blob`` (if any) at its clock."""
        state = self.state
        state.contacts.clear()
        state.dedupe.load(())
        for members in self._members:
            members.clear()
        self._writer.discarded.clear()
        self._timers = type(self._timers)()
        self._indexes.drop()
        self._before = None
        if self._b2b is not None:
            self._b2b.store.clear()
            self._b2b.collected = []
        if blob is None:
            state.now = -math.inf
            return None
        contact, clock, refs = decode_state(blob, self._list_fields)
        for score, ref in zip(self.program.scores, refs, strict=True):
            if score.decay is not None and ref is not None:
                score.decay.ref = ref
        state.now = clock
        state.contacts[contact.id] = contact
        for segment in self.program.segments:
            if contact.segs & segment.bit:
                self._members[segment.index].add(contact.id)
        if is_discarded(contact):
            self._writer.discarded.add(contact.id)
        if contact.wake is not None:
            self._timers.push(contact.wake, contact.id)
        self._before = _reading(self, contact)
        return contact.id

    def _save(self, contact_id: str, blob: bytes | None, actions: list[Action]) -> StepResult:
        state = self.state
        contact = state.contacts.get(contact_id)
        before = self._before
        after = None if contact is None else _reading(self, contact)
        deltas = _deltas(contact_id, before, after, self._score_names, self.program.segments)
        if self._b2b is not None and self._b2b.collected:
            moved = self._b2b.collected
            combined = member_delta(
                contact_id,
                Membership(moved[0].account[0], moved[0].values[0]),
                Membership(moved[-1].account[1], moved[-1].values[1]),
            )
            if combined is not None:
                rollup_refs = tuple(
                    None if r.decay is None else r.decay.ref for r in self._b2b.program.rollups
                )
                deltas = attrs.evolve(deltas, account=attrs.evolve(combined, refs=rollup_refs))
        if contact is None:
            new_state = None if before is not None or blob is None else blob
            return StepResult(new_state, actions, None, deltas)
        refs = [None if s.decay is None else s.decay.ref for s in self.program.scores]
        new_state = encode_state(contact, state.clock_or_zero(), refs)
        return StepResult(new_state, actions, contact.wake, deltas)


@attrs.frozen
class _Reading:
    scores: tuple[Any, ...]
    segs: int
    last_activity: float | None
    discarded: bool


def _reading(engine: Engine, contact: Contact) -> _Reading:
    now = engine.state.clock_or_zero()
    values = []
    for spec in engine.program.scores:
        stored = score_of(contact, spec.index)
        if spec.decay is not None and stored is not None:
            stored = spec.decay.read(stored, now)
        values.append(stored)
    return _Reading(tuple(values), contact.segs, contact.last_activity, is_discarded(contact))


def _deltas(
    contact_id: str,
    before: _Reading | None,
    after: _Reading | None,
    score_names: Sequence[str],
    segments: Sequence[SegmentSpec],
) -> Deltas:
    if before is None and after is None:
        return Deltas(contact_id)
    if after is None:
        assert before is not None
        return Deltas(contact_id, deleted=True, left=_names(segments, before.segs))
    if before is None:
        return Deltas(
            contact_id,
            created=True,
            scores={
                name: (None, value)
                for name, value in zip(score_names, after.scores, strict=True)
                if value is not None
            },
            entered=_names(segments, after.segs),
            last_activity=(None, after.last_activity) if after.last_activity is not None else None,
            discarded=(False, True) if after.discarded else None,
        )
    return Deltas(
        contact_id,
        scores={
            name: (old, new)
            for name, old, new in zip(score_names, before.scores, after.scores, strict=True)
            if old != new
        },
        entered=_names(segments, after.segs & ~before.segs),
        left=_names(segments, before.segs & ~after.segs),
        last_activity=(
            (before.last_activity, after.last_activity)
            if before.last_activity != after.last_activity
            else None
        ),
        discarded=(
            (before.discarded, after.discarded) if before.discarded != after.discarded else None
        ),
    )


def _names(segments: Sequence[SegmentSpec], bits: int) -> tuple[str, ...]:
    return tuple(spec.name for spec in segments if bits & spec.bit and not spec.hidden)

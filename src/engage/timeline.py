"""One contact's timeline: every event of it and every wake-up that touched it, with
what changed, what each rule did and why — what ``engage explain`` shows.

Why: "why did (or didn't) this rule fire for Jhon?" is the question a rule author asks
when a contact's points or messages differ from what they expected. The answer needs
the contact's history replayed exactly as the engine ran it, so every record is fed
(all contacts: they move the clock) to an :class:`~engage.engine.Engine`, in the time
order of ``engage run`` (:mod:`engage.io.ordering`); around each step of the target
contact the contact is looked at before and after (its view, :meth:`Engine.explain`
per rule, its score lines' cap bookkeeping), and :mod:`engage.timeline_reasons` says
what the difference means.

Wake-ups: the contact's next wake-up is known (``Contact.wake`` in the engine's state
record). Before a record at or after it is applied, the clock is advanced to it, so the
target's timers fire at their own moment, as they do in ``engage run``; other
contacts' timers fire on the way as usual. A wake-up is kept in the timeline when it
touched the contact: an action, a rule's truth, its class, segments or tags changed.

Cost: the records of other contacts go through :meth:`Engine.ingest_many` in batches,
as in ``engage run``; each step of the target costs one :meth:`Engine.explain` per
rule before and after. Memory: the sorted input (see :mod:`engage.io.ordering`) and
the timeline itself.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from engage.actions import Action
from engage.engine import Engine
from engage.events import Event
from engage.io.ordering import Placed, time_of
from engage.io.readers import BadRecord
from engage.program import RuleSpec
from engage.rules import Rules
from engage.state.contact import LINE_STATE
from engage.timeline_reasons import (
    Look,
    RuleOutcome,
    ScoreChange,
    Step,
    line_texts,
    plain,
    rule_outcome,
    score_changes,
)
from engage.timeutil import format_time

#: Records of other contacts given to the engine at once.
_BATCH: Final = 4096

EVENT: Final = "event"
WAKE_UP: Final = "wake-up"


@attrs.frozen
class Entry:
    """One step of the timeline: an event of the contact, or a wake-up that touched it.

    ``note`` says when the event was not applied (a duplicate id, a refused record);
    ``changes`` holds ``valuation`` (``[before, after]``), ``segments_entered``,
    ``segments_left``, ``tags_added`` and ``tags_removed`` when they changed.
    """

    kind: str
    at: float
    event: dict[str, Any] | None
    place: str | None
    note: str | None
    scores: tuple[ScoreChange, ...]
    changes: dict[str, Any]
    rules: tuple[RuleOutcome, ...]
    actions: tuple[Action, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object of a step (keys documented in docs/authoring.md)."""
        return {
            "kind": self.kind,
            "at": format_time(self.at),
            "event": self.event,
            "source": self.place,
            "note": self.note,
            "scores": [change.to_dict() for change in self.scores],
            "changes": self.changes,
            "rules": [rule.to_dict() for rule in self.rules],
            "actions": [action.to_dict(explain=True) for action in self.actions],
        }


@attrs.frozen
class Timeline:
    """The steps of one contact, in time order; ``found`` is False when no record
    named the contact (``contact_ids`` then helps to say which one was meant)."""

    contact: str
    entries: tuple[Entry, ...]
    found: bool
    contact_ids: tuple[str, ...]
    final: dict[str, Any] | None


def build(
    rules: Rules,
    placed: Iterable[Placed],
    contact: str,
    *,
    rule: str | None = None,
    until: float | None = None,
) -> Timeline:
    """Replay ``placed`` records (in the order given) and trace ``contact``.

    ``rule`` limits the rule outcomes to that rule (a name of ``rules``); ``until``
    moves the clock there after the last record, with the contact's wake-ups on the way.
    """
    engine = Engine(rules, max_future=None)
    program = engine.program
    traced = tuple(r for r in program.rules if rule is None or r.name == rule)
    # A flow's actions carry the rule name `flow:NAME`: all of them are shown when no
    # rule is asked about, those of one flow when its name is.
    flows = {f.rule for f in program.flows if rule is None or f.rule == rule}
    tracer = _Tracer(engine, rules, contact, traced, flows)
    pending: list[Any] = []
    latest: float | None = None
    for source, line_number, record in placed:
        if record.__class__ is BadRecord:
            continue
        moment = time_of(record)
        latest = moment if moment is not None else latest
        if latest is not None and tracer.wake_due(latest):
            _feed(engine, pending)
            tracer.wake_ups(latest)
        if isinstance(record, dict) and str(record.get("contact")) == contact:
            _feed(engine, pending)
            tracer.event(record, f"{source}:{line_number}", latest)
        else:
            pending.append(record)
            if len(pending) >= _BATCH:
                _feed(engine, pending)
    _feed(engine, pending)
    engine.flush()
    if until is not None:
        tracer.wake_ups(until)
        engine.advance(until)
    view = engine.contact(contact)
    return Timeline(
        contact,
        tuple(tracer.entries),
        tracer.found,
        tuple(engine.contact_ids()),
        None if view is None else view.to_dict(),
    )


def _feed(engine: Engine, pending: list[Any]) -> None:
    if pending:
        engine.ingest_many(pending)
        pending.clear()
        del engine.rejected[:]  # other contacts' refused records are not this report's


class _Tracer:
    """Looks at one contact around each of its steps and records the entries."""

    def __init__(
        self,
        engine: Engine,
        rules: Rules,
        contact: str,
        traced: Sequence[RuleSpec],
        flows: set[str] | None = None,
    ) -> None:
        self.engine = engine
        self.contact = contact
        self.traced = traced
        self.flows = flows or set()
        self.texts = line_texts(rules)
        self.entries: list[Entry] = []
        self.found = False

    def _record(self) -> Any:
        return self.engine.state.contacts.get(self.contact)

    def wake_due(self, moment: float) -> bool:
        """Whether the contact has a wake-up at or before ``moment``."""
        record = self._record()
        return record is not None and record.wake is not None and record.wake <= moment

    def wake_ups(self, moment: float) -> None:
        """Advance through the contact's wake-ups due at or before ``moment``."""
        while self.wake_due(moment):
            due = self._record().wake
            before = self._look()
            actions = self._mine(self.engine.advance(due))
            after = self._look()
            entry = self._entry(WAKE_UP, due, None, None, None, before, after, actions)
            if actions or entry.changes or _truth_moved(before, after):
                self.entries.append(entry)

    def event(self, record: dict[str, Any], place: str, moment: float | None) -> None:
        """Apply one record of the contact and record what it did."""
        self.found = True
        engine = self.engine
        if moment is not None:
            engine.advance(moment)  # the other contacts' timers due by then, as in a run
        before = self._look()
        duplicates = engine.stats.duplicates
        refused = len(engine.rejected)
        actions = self._mine(engine.ingest(record))
        note = None
        if len(engine.rejected) > refused:
            note = f"not applied: {engine.rejected[-1].reason}"
            del engine.rejected[refused:]
        elif engine.stats.duplicates > duplicates:
            note = "not applied: a duplicate event id"
        after = self._look()
        now = engine.now if engine.now is not None else 0.0
        data = record.get("data")
        shown = {
            "id": record.get("id"),
            "type": record.get("type"),
            "data": data if isinstance(data, dict) else None,
        }
        event = None
        if note is None and isinstance(record.get("type"), str):
            event = Event(self.contact, record["type"], now, record.get("id"), shown["data"])
        self.entries.append(
            self._entry(EVENT, now, shown, place, note, before, after, actions, event)
        )

    def _mine(self, actions: list[Action]) -> tuple[Action, ...]:
        """The contact's actions (of the traced rules, when one rule is asked about)."""
        names = {rule.name for rule in self.traced} | self.flows
        return tuple(
            action for action in actions if action.contact == self.contact and action.rule in names
        )

    def _entry(
        self,
        kind: str,
        moment: float,
        shown: dict[str, Any] | None,
        place: str | None,
        note: str | None,
        before: Look,
        after: Look,
        actions: tuple[Action, ...],
        event: Event | None = None,
    ) -> Entry:
        program = self.engine.program
        step = Step(moment, event, self._record())
        outcomes = tuple(
            rule_outcome(rule, program, before, after, _firings(actions, rule), step)
            for rule in self.traced
        )
        scores = (
            ()
            if note is not None
            else tuple(score_changes(program, self.texts, before, after, step))
        )
        return Entry(
            kind,
            moment,
            shown,
            place,
            note,
            scores,
            _changes(before, after),
            outcomes,
            actions,
        )

    def _look(self) -> Look:
        engine = self.engine
        view = engine.contact(self.contact)
        verdicts = {rule.name: engine.explain(self.contact, rule.name) for rule in self.traced}
        if view is None:
            return Look(False, {}, None, frozenset(), frozenset(), verdicts, {})
        record = self._record()
        states = record.get_extra(LINE_STATE) if record is not None else None
        return Look(
            True,
            dict(view.scores),
            view.valuation,
            frozenset(view.segments),
            frozenset(view.tags),
            verdicts,
            copy.deepcopy(states) if states else {},
        )


def _firings(actions: tuple[Action, ...], rule: RuleSpec) -> int:
    """How many times ``rule`` fired: a firing emits one action per written action."""
    count = sum(1 for action in actions if action.rule == rule.name)
    return -(-count // max(1, len(rule.actions)))


def _truth_moved(before: Look, after: Look) -> bool:
    keys = ("holds", "armed", "fired_once")
    for name, verdict in after.verdicts.items():
        was = before.verdicts.get(name, {})
        if any(verdict.get(key) != was.get(key) for key in keys):
            return True
    return False


def _changes(before: Look, after: Look) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if before.exists and before.valuation != after.valuation:
        changes["valuation"] = [before.valuation, after.valuation]
    for key, items in (
        ("segments_entered", after.segments - before.segments),
        ("segments_left", before.segments - after.segments),
        ("tags_added", after.tags - before.tags),
        ("tags_removed", before.tags - after.tags),
    ):
        if items:
            changes[key] = sorted(items)
    return changes


__all__ = ["EVENT", "WAKE_UP", "Entry", "Timeline", "build", "plain"]

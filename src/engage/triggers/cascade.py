"""Rounds of rule evaluation for one contact, until its state stops changing.

This is the incremental heart of the engine. A round starts from the inputs that changed
(recorded by the :class:`~engage.state.writer.StateWriter`), keeps only the net changes,
brings derived state up to date (recency class, segments, in dependency order), then
evaluates exactly the rules that read a changed input:

- single-score ``when`` rules through the score's threshold index (O(log R + k));
- other ``when`` rules from the dependency map, comparing with their stored truth bit;
- engine-made triggers (``score change``, ``tag added``, ``segment enter/exit``) and, in
  the first round, the event's own ``on`` rules.

The rules that fire run in firing order (priority, then file position); their state
actions are the changes of the next round. See ``docs/semantics.md`` section 4.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engage.actions import Action
from engage.dsl import runtime
from engage.events import Event
from engage.explain import Cause
from engage.history.rows import version as history_version
from engage.program import Key, Program, RuleSpec
from engage.state.contact import UNSUBSCRIBED, Contact, score_of
from engage.state.writer import (
    DISCARD_KEY,
    LAST_ACTIVITY_KEY,
    VALUATION_KEY,
    StateWriter,
)
from engage.time.valuation import class_of, is_discarded
from engage.timeutil import format_time
from engage.triggers import modes
from engage.triggers.executor import ActionExecutor
from engage.triggers.plain import (
    VALUATION_INPUTS,
    fires_on_each_rise,
    made_and_on_rules,
    plain_specs,
    watched_keys,
)

#: Rounds of cascading state actions allowed for one event before it is a rule cycle.
MAX_ROUNDS: Final = 32


class Problem:
    """Something that went wrong while running rules (never raised into a stream)."""

    __slots__ = ("at", "contact", "kind", "message", "rules")

    def __init__(
        self, kind: str, contact: str, at: float, message: str, rules: tuple[str, ...] = ()
    ) -> None:
        self.kind = kind
        self.contact = contact
        self.at = at
        self.message = message
        self.rules = rules

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contact": self.contact,
            "at": format_time(self.at),
            "message": self.message,
            "rules": list(self.rules),
        }

    def __repr__(self) -> str:
        return f"Problem({self.kind!r}, {self.contact!r}, {self.message!r})"


class Cascade:
    """Runs the rounds for one contact at a time."""

    __slots__ = (
        "_class_rearms",
        "_creation_rules",
        "_creation_segments",
        "_origin",
        "_plain",
        "_plain_on",
        "_plain_scores",
        "_score_names",
        "_time_rearms",
        "_watch_tags",
        "_watched",
        "executor",
        "members",
        "problems",
        "program",
        "writer",
    )

    def __init__(
        self,
        program: Program,
        writer: StateWriter,
        members: list[set[str]],
        problems: list[Problem],
    ) -> None:
        self.program = program
        self.writer = writer
        self.executor = ActionExecutor(program, writer)
        self.members = members
        self.problems = problems
        self._watched, self._watch_tags = watched_keys(program)
        self._creation_rules, self._creation_segments = _creation_units(program)
        #: By rule rank, the actions of plain threshold, wake-plan and dependency-map
        #: ``when`` rules, ready to emit and apply; the scores whose threshold rules are
        #: all plain (:meth:`_plain_round`); and the plain actions of ``score change`` and
        #: ``on`` rules, whose mode :meth:`plan_round` applies.
        watched, watch_tags = self._watched, self._watch_tags
        when_rules = [rule for rules in program.thresholds.values() for rule in rules.rules()]
        when_rules.extend(program.wake_rules)
        when_rules.extend(rule for rules in program.rule_deps.values() for rule in rules)
        self._plain = _plain_actions(program, writer, watched, watch_tags, when_rules)
        self._plain_on = _plain_actions(
            program, writer, watched, watch_tags, made_and_on_rules(program), any_mode=True
        )
        self._plain_scores = frozenset(
            index
            for index, rules in program.thresholds.items()
            if program.scores[index].decay is None
            and all(rule.rank in self._plain for rule in rules.rules())
        )
        #: The rules a wake-up may re-arm: those whose re-arm condition time can change,
        #: and the others that read the class (re-armed when it changed).
        self._time_rearms = program.time_rearms
        self._class_rearms = tuple(
            rule
            for rule in program.rearm_deps.get(VALUATION_KEY, ())
            if rule not in program.time_rearms
        )
        #: By score index, its name (the ``reads`` of a crossing's cause).
        self._score_names = tuple(score.name for score in program.scores)
        #: What started the current run: (event id, event type, timer moment).
        self._origin: tuple[str | None, str | None, float | None] = (None, None, None)

    def _cause(self, rule: RuleSpec, **details: Any) -> Cause:
        """A cause for ``rule`` firing now, with the event or timer that started the run."""
        event_id, event_type, timer = self._origin
        details.setdefault("event_type", event_type)
        return Cause(rule.name, event=event_id, timer=timer, **details)

    # -- reading inputs -------------------------------------------------------------

    def current(self, contact: Contact, key: Key) -> Any:
        """The current value of an input."""
        kind = key[0]
        if kind == "score":
            return score_of(contact, key[1])
        if kind == "last_activity":  # every activity event changes it
            return contact.last_activity
        if kind == "field":
            fields = contact.fields
            return None if fields is None else fields[key[1]]
        if kind == "tag":
            return key[1] in contact.tags
        if kind == "tags":
            return tuple(contact.tags)
        if kind == "group":
            return key[1] in contact.groups
        if kind == "groups":
            return contact.groups
        if kind == "status":
            return contact.status
        if kind == "consent":
            return runtime.consent(contact, key[1])
        if kind == "created":
            return contact.created
        if kind == "discard":
            return is_discarded(contact)
        if kind == "valuation":
            memo = self.program.class_memo
            if memo.contact is contact and memo.now == self.writer.now:
                return memo.name
            return class_of(
                self.program.classes, contact.last_activity, is_discarded(contact), self.writer.now
            )
        if kind == "segment":
            return contact.segs & (1 << key[1]) != 0
        if kind == "unsubscribed":
            extra = contact.extra
            return 0 if extra is None else len(extra.get(UNSUBSCRIBED, ()))
        if kind == "list":
            return runtime.subscribed(contact, key[1])
        if kind == "tracked":
            return history_version(contact)
        return None

    def display(self, contact: Contact, key: Key, stored: Any) -> Any:
        """A value as a person reads it (decayed scores at the clock)."""
        if key[0] == "score" and stored is not None:
            decay = self.program.scores[key[1]].decay
            if decay is not None:
                return decay.read(stored, self.writer.now)
        if key[0] == "history":
            return stored
        return stored

    def _net(self, contact: Contact, changes: dict[Key, Any]) -> dict[Key, Any]:
        net: dict[Key, Any] = {}
        current = self.current
        for key, old in changes.items():
            if key[0] == "history":
                net[key] = old
                continue
            now_value = current(contact, key)
            if now_value != old or (now_value is None) != (old is None):
                net[key] = old
        return net

    # -- the rounds -----------------------------------------------------------------

    def run(
        self,
        contact: Contact,
        event: Event | None,
        event_id: str | None,
        *,
        creating: bool = False,
        on_rules: tuple[RuleSpec, ...] = (),
        wake: bool = False,
        forced: tuple[RuleSpec, ...] = (),
        rounds: int = 0,
        event_type: str | None = None,
        timer: float | None = None,
    ) -> list[Action]:
        """Evaluate rounds until nothing changes; returns the actions, in order.

        ``creating``: this is the contact's first evaluation (every rule comes from
        false). ``wake``: time alone moved the contact. ``forced``: ``when`` rules to
        evaluate in the first round as if they came from false (a backfill).
        ``event_type``: the type of the event that started the cascade, when ``event``
        is not given (the inline path continuing a crossing). ``timer``: the moment of
        the wake-up that started it, when :meth:`wake` continues its own first round.
        """
        if creating:
            forced = self._creation_rules
        writer = self.writer
        program = self.program
        now = writer.now
        self._origin = (event_id, event.type if event else event_type, now if wake else timer)
        memo = program.class_memo
        memo.clear()
        out: list[Action] = []
        first = True
        #: Every rule that fired in this cascade, in first-firing order (a cycle names them).
        cascade_rules: dict[str, None] = {}
        try:
            while True:
                changes = writer.changes
                writer.changes = {}
                net = self._net(contact, changes) if changes else {}
                if program.valuation_watched:
                    self._valuation(contact, net, wake and first)
                segment_events: list[tuple[str, int]] = []
                if program.segments:
                    self._segments(contact, net, creating and first, wake and first, segment_events)
                fired: list[tuple[int, int, RuleSpec, Any, Cause]] = []
                if net or (first and (forced or creating or wake)):
                    self._when_rules(
                        contact,
                        net,
                        forced if first else (),
                        creating and first,
                        wake and first,
                        fired,
                    )
                    self._engine_made(contact, net, segment_events, fired)
                if first and on_rules:
                    for rule in on_rules:
                        cond = rule.cond
                        if (cond is None or cond(contact, event, now)) and modes.should_fire(
                            rule, contact, False, True, now
                        ):
                            cause = self._cause(rule, condition=rule.cond_text)
                            fired.append((rule.rank, len(fired), rule, event, cause))
                if not fired:
                    break
                fired.sort(key=_firing_order)
                memo.clear()  # actions may change what the class depends on
                run_actions = self.executor.run
                for _, _, rule, context, cause in fired:
                    cascade_rules[rule.name] = None
                    out.extend(run_actions(rule, contact, context, now, event_id, cause))
                if not writer.changes:
                    break
                if not self.watches(writer.changes):
                    # Nothing reads what the actions changed: another round would find
                    # nothing to do (the common case: a threshold rule that only tags).
                    writer.changes = {}
                    break
                rounds += 1
                if rounds >= MAX_ROUNDS:
                    names = tuple(cascade_rules)
                    self.problems.append(
                        Problem(
                            "rule cycle",
                            contact.id,
                            now,
                            f"still firing after {MAX_ROUNDS} rounds of cascading state "
                            f"actions; the cascade was stopped and the state reached kept",
                            names,
                        )
                    )
                    writer.changes = {}
                    break
                first = False
            # The cascade's sends, decided together (priority under contention).
            self.executor.settle(contact, now)
        finally:
            # A filled memo outlives no evaluation, not even one an exception cut short;
            # nor do undecided sends (they belong to this contact only).
            memo.clear()
            self.executor.pending.clear()
        return out

    def wake(self, contact: Contact) -> list[Action]:
        """:meth:`run` for a contact that time alone moved (a due wake-up).

        With the program's wake plan (``Program.wake_truth``), the first round is one
        generated call giving the truth bits of every rule time can change; the rules
        whose bit rose are the candidates to fire, in firing order, exactly those the
        general round would find. What their actions change continues in :meth:`run`.
        """
        program = self.program
        if program.wake_truth is None:
            return self.run(contact, None, None, wake=True)
        writer = self.writer
        now = writer.now
        memo = program.class_memo
        try:
            fired = self._wake_firings(contact, now)
        finally:
            memo.clear()  # as in run: never left filled, even by an exception
        if fired is None:  # a segment moved: its events are the general round's work
            return self.run(contact, None, None, wake=True)
        if not fired:
            return []
        plain = self._plain
        run_actions = self.executor.run
        out: list[Action] = []
        for rule, cause in fired:
            actions = plain.get(rule.rank)
            if actions is None:
                out.extend(run_actions(rule, contact, None, now, None, cause))
                continue
            _emit_plain(actions, contact, rule.name, now, None, cause, out)
        self._follow_up(contact, out, None, None, now)
        self.executor.settle(contact, now)
        return out

    def _wake_firings(self, contact: Contact, now: float) -> list[tuple[RuleSpec, Cause]] | None:
        """The wake plan's first round: update the truth bits, and return the rules
        that fire with their causes, in firing order (the memo is left to the caller).

        None, with nothing changed, when the wake-up moves a segment in or out.
        """
        program = self.program
        truth_of = program.wake_truth
        assert truth_of is not None
        memo = program.class_memo
        classes = program.classes
        watched = program.valuation_watched
        discarded = False
        if watched:
            discarded = is_discarded(contact)
            memo.fill(contact, now, class_of(classes, contact.last_activity, discarded, now))
        segments_of = program.wake_segments
        if (
            segments_of is not None
            and segments_of(contact, None, now) != contact.segs & program.wake_segment_bits
        ):
            return None
        if self._time_rearms:
            self._wake_rearms(contact, now, discarded)
        new = truth_of(contact, None, now)
        truth = contact.truth
        old = truth & program.wake_bits
        rising = new & ~old
        if new != old:
            contact.truth = truth ^ old ^ new
        if not rising:
            return []
        self._origin = (None, None, now)
        net: dict[Key, Any] = {}
        if watched:
            # The class an instant before, for the causes (as the general round's net).
            old_class = class_of(classes, contact.last_activity, discarded, now, just_before=True)
            if old_class != memo.name:
                net[VALUATION_KEY] = old_class
        should_fire = modes.should_fire
        plain = self._plain
        by_bit = program.wake_rule_of_bit
        fired: list[tuple[RuleSpec, Cause]] = []
        while rising:
            bit = rising & -rising  # the lowest: bits follow the firing order
            rising ^= bit
            rule = by_bit[bit]
            # A plain rule fires on every rise (should_fire would say yes, and mark nothing).
            if rule.rank in plain or should_fire(rule, contact, False, True, now):
                reads = self._reads(contact, rule, net)
                fired.append((rule, Cause(rule.name, None, None, now, rule.cond_text, reads)))
        return fired

    def _wake_rearms(self, contact: Contact, now: float, discarded: bool) -> None:
        """The general round's re-arm step at a wake-up: re-arm the disarmed rules whose
        re-arm condition time can change (and those that read the class, when it
        changed) and now holds, before the truth bits are compared.

        Cost: a membership test per such rule; its condition only when disarmed.
        """
        rules = self._time_rearms
        if self._class_rearms:
            classes = self.program.classes
            before = class_of(classes, contact.last_activity, discarded, now, just_before=True)
            if before != self.program.class_memo.name:
                rules = (*rules, *self._class_rearms)
        for rule in rules:
            rearm = rule.rearm
            assert rearm is not None
            if modes.is_disarmed(rule, contact) and rearm(contact, None, now):
                modes.rearm(rule, contact)

    def score_round(
        self, contact: Contact, index: int, old: Any, event_id: str | None, event_type: str | None
    ) -> list[Action]:
        """:meth:`run` when the only change is score ``index`` (from ``old``), a score that
        only threshold rules read.

        The engine's inline path calls this for a crossing: the general first round
        would find no segment, no general rule, no re-arm and no engine-made event to
        look at, so only the threshold candidates are evaluated. Actions that change
        something watched continue in :meth:`run`, as its later rounds would.
        """
        new = score_of(contact, index)
        if new == old and (new is None) == (old is None):
            return []
        if index in self._plain_scores:
            return self._plain_round(contact, index, old, new, event_id, event_type)
        self._origin = (event_id, event_type, None)
        fired: list[tuple[int, int, RuleSpec, Any, Cause]] = []
        self._threshold_firings(contact, index, old, False, fired, None)
        if not fired:
            return []
        if len(fired) > 1:
            fired.sort(key=_firing_order)
        writer = self.writer
        now = writer.now
        run_actions = self.executor.run
        out: list[Action] = []
        for _, _, rule, context, cause in fired:
            out.extend(run_actions(rule, contact, context, now, event_id, cause))
        self._follow_up(contact, out, event_id, event_type, None)
        self.executor.settle(contact, now)
        return out

    def _follow_up(
        self,
        contact: Contact,
        out: list[Action],
        event_id: str | None,
        event_type: str | None,
        timer: float | None,
    ) -> None:
        """After a first round run outside :meth:`run` (:meth:`wake`, :meth:`score_round`):
        continue in :meth:`run` if its actions changed something a rule reads, else
        forget the changes."""
        changes = self.writer.changes
        if not changes:
            return
        if self.watches(changes):
            out.extend(
                self.run(contact, None, event_id, event_type=event_type, rounds=1, timer=timer)
            )
        else:
            self.writer.changes = {}

    def _plain_round(
        self,
        contact: Contact,
        index: int,
        old: Any,
        new: Any,
        event_id: str | None,
        event_type: str | None,
    ) -> list[Action]:
        """:meth:`score_round` for a score whose threshold rules are all plain.

        A plain rule (:func:`_plain_actions`) fires exactly when its condition goes
        from false to true, and its actions are fixed records and changes that nothing
        reads: no mode to consult, no argument to compute, no round to follow. This is
        the crossing of a tiering rule (``when score >= 50 then tag "warm"``), which a
        stream meets once every few events, so it is kept to the few steps it needs.
        """
        fired = [
            rule
            for rule in self.program.thresholds[index].candidates(old, new)
            if rule.threshold[1](new) and not rule.threshold[1](old)  # type: ignore[index]
        ]
        if not fired:
            return []
        if len(fired) > 1:
            fired.sort(key=_rank)
        now = self.writer.now
        reads = {self._score_names[index]: [old, new]}
        plain = self._plain
        out: list[Action] = []
        for rule in fired:
            name = rule.name
            cause = Cause(name, event_id, event_type, None, rule.cond_text, reads, rule.cond_text)
            _emit_plain(plain[rule.rank], contact, name, now, event_id, cause, out)
        # What the actions changed, nothing reads: no later round.
        self.writer.changes = {}
        return out

    def plan_round(
        self,
        contact: Contact,
        event: Event,
        changes: dict[Key, Any],
        rules: tuple[RuleSpec, ...],
    ) -> list[Action]:
        """:meth:`run` for an event whose plan found that the only units it moves are
        ``rules``, each in the plan's firing set (:func:`engage.triggers.plain.plan_fired`):
        threshold rules that rise, dependency-map ``when`` rules whose truth bit the
        plan raised, ``score change`` rules and the type's ``on`` rules whose condition
        holds.

        The general first round would find no segment, re-arm or enter/exit event to
        act on, and fire exactly these rules (the ``score change`` and ``on`` rules
        that their mode lets fire, asked in the round's order: the former by changed
        score, then the latter), in firing order, with these causes; their actions
        change nothing a rule reads, so no round follows. ``changes`` is the plan's
        change set (the values before the event), from which the causes show what
        changed.

        Cost: the net changes and a cause per rule; the actions' records.
        """
        program = self.program
        now = self.writer.now
        event_id = event.id
        event_type = event.type
        self._origin = (event_id, event_type, None)
        memo = program.class_memo
        memo.clear()
        fired: list[tuple[int, RuleSpec, tuple[PlainAction, ...], Cause]] = []
        try:
            net = self._net(contact, changes)
            if program.valuation_watched:
                self._valuation(contact, net, False)
            score_reads: dict[int, dict[str, Any]] = {}
            on_event: list[RuleSpec] = []
            on_change: dict[int, list[RuleSpec]] = {}
            for rule in rules:
                name = rule.name
                threshold = rule.threshold
                if rule.kind == "on":
                    on_event.append(rule)
                    continue
                if rule.kind == "score_change":
                    assert rule.score is not None
                    on_change.setdefault(rule.score, []).append(rule)
                    continue
                if threshold is not None:
                    index = threshold[0]
                    reads = score_reads.get(index)
                    if reads is None:
                        key = ("score", index)
                        shown = self.display(contact, key, net[key])
                        reads = {self._score_names[index]: [shown, score_of(contact, index)]}
                        score_reads[index] = reads
                    text = rule.cond_text
                    cause = Cause(name, event_id, event_type, None, text, reads, text)
                else:
                    reads = self._reads(contact, rule, net)
                    cause = Cause(name, event_id, event_type, None, rule.cond_text, reads)
                fired.append((rule.rank, rule, self._plain[rule.rank], cause))
            if on_change:
                self._plan_changes(contact, net, on_change, fired, now)
            should_fire = modes.should_fire
            for rule in on_event:
                if should_fire(rule, contact, False, True, now):
                    cause = self._cause(rule, condition=rule.cond_text)
                    fired.append((rule.rank, rule, self._plain_on[rule.rank], cause))
        finally:
            memo.clear()
        if len(fired) > 1:
            fired.sort(key=_first)
        out: list[Action] = []
        for _, rule, actions, cause in fired:
            _emit_plain(actions, contact, rule.name, now, event_id, cause, out)
        # What the actions changed, nothing reads: no later round.
        self.writer.changes = {}
        return out

    def _plan_changes(
        self,
        contact: Contact,
        net: dict[Key, Any],
        on_change: dict[int, list[RuleSpec]],
        fired: list[tuple[int, RuleSpec, tuple[PlainAction, ...], Cause]],
        now: float,
    ) -> None:
        """:meth:`plan_round`'s ``score change`` rules (whose condition the plan found
        to hold), by changed score in the order of ``net``, as :meth:`_engine_made`."""
        for key, old in net.items():
            if key[0] != "score":
                continue
            rules = on_change.get(key[1])
            if not rules:
                continue
            before = self.display(contact, key, old)
            after = self.display(contact, key, score_of(contact, key[1]))
            reads = {self._score_names[key[1]]: [before, after]}
            for rule in rules:
                if modes.should_fire(rule, contact, False, True, now):
                    cause = self._cause(
                        rule, event_type="score.change", condition=rule.cond_text, reads=reads
                    )
                    fired.append((rule.rank, rule, self._plain_on[rule.rank], cause))

    def _threshold_firings(
        self,
        contact: Contact,
        index: int,
        old: Any,
        creating: bool,
        fired: list[tuple[int, int, RuleSpec, Any, Cause]],
        handled: set[int] | None,
    ) -> None:
        """The threshold rules of score ``index`` that its change from ``old`` fires.

        Only the candidates of the sorted threshold index are looked at; ``handled``
        collects their ranks (the first round must not evaluate them again).
        """
        new = score_of(contact, index)
        now = self.writer.now
        should_fire = modes.should_fire
        reads: dict[str, Any] | None = None
        for rule in self.program.thresholds[index].candidates(old, new):
            if handled is not None:
                handled.add(rule.rank)
            predicate = rule.threshold[1]  # type: ignore[index]
            holds = predicate(new)
            before = False if creating else predicate(old)
            if holds == before or not should_fire(rule, contact, before, holds, now):
                continue
            if reads is None:
                shown = self.display(contact, ("score", index), old)
                reads = {self._score_names[index]: [shown, new]}
            event_id, event_type, timer = self._origin
            cause = Cause(
                rule.name, event_id, event_type, timer, rule.cond_text, reads, rule.cond_text
            )
            fired.append((rule.rank, len(fired), rule, None, cause))

    def watches(self, changes: dict[Key, Any]) -> bool:
        """Whether a rule, a segment or a re-arm condition reads one of ``changes``: if
        not, a round over them would find nothing to do. Cost: a set test."""
        if not self._watched.isdisjoint(changes):
            return True
        return self._watch_tags and any(key[0] == "tag" for key in changes)

    # -- derived state ----------------------------------------------------------------

    def _valuation(self, contact: Contact, net: dict[Key, Any], at_wake: bool) -> None:
        if not at_wake and net.keys().isdisjoint(VALUATION_INPUTS):
            return
        classes = self.program.classes
        now = self.writer.now
        discarded = is_discarded(contact)
        old_activity = net.get(LAST_ACTIVITY_KEY, contact.last_activity)
        old_discarded = net.get(DISCARD_KEY)
        if old_discarded is None:
            old_discarded = discarded
        if at_wake:
            # Just before a boundary the contact was still in the earlier class.
            old_class = class_of(classes, old_activity, old_discarded, now, just_before=True)
        else:
            old_class = class_of(classes, old_activity, old_discarded, now)
        new_class = class_of(classes, contact.last_activity, discarded, now)
        self.program.class_memo.fill(contact, now, new_class)
        if old_class != new_class:
            net[VALUATION_KEY] = old_class

    def _segments(
        self,
        contact: Contact,
        net: dict[Key, Any],
        creating: bool,
        at_wake: bool,
        events: list[tuple[str, int]],
    ) -> None:
        program = self.program
        deps = program.segment_deps
        pending: set[int] = set()
        for key in net:
            if key in deps:
                for segment in deps[key]:
                    pending.add(segment.index)
        if creating:
            pending.update(self._creation_segments)
        if at_wake:
            pending.update(s.index for s in program.time_segments)
        if not pending:
            return
        now = self.writer.now
        for segment in program.segments:
            if segment.index not in pending:
                continue
            was = contact.segs & segment.bit != 0
            cond = segment.cond
            assert cond is not None
            member = bool(cond(contact, None, now))
            if member == was:
                continue
            contact.segs ^= segment.bit
            net[segment.key] = was
            if member:
                self.members[segment.index].add(contact.id)
                events.append(("enter", segment.index))
            else:
                self.members[segment.index].discard(contact.id)
                events.append(("exit", segment.index))
            for dependent in deps.get(segment.key, ()):
                pending.add(dependent.index)

    # -- rules ------------------------------------------------------------------------

    def _when_rules(
        self,
        contact: Contact,
        net: dict[Key, Any],
        forced: tuple[RuleSpec, ...],
        creating: bool,
        at_wake: bool,
        fired: list[tuple[int, int, RuleSpec, Any, Cause]],
    ) -> None:
        program = self.program
        now = self.writer.now
        should_fire = modes.should_fire
        # Re-arm first: a change that re-arms a rule and makes it hold fires it.
        if program.rearm_deps or (at_wake and program.time_rearms):
            rearms: dict[RuleSpec, None] = {}
            for key in net:
                for rule in program.rearm_deps.get(key, ()):
                    rearms[rule] = None
            if at_wake:
                for rule in program.time_rearms:
                    rearms[rule] = None
            for rule in rearms:
                assert rule.rearm is not None
                if modes.is_disarmed(rule, contact) and rule.rearm(contact, None, now):
                    modes.rearm(rule, contact)
        # Rules through the threshold indexes.
        handled: set[int] | None = None
        thresholds = program.thresholds
        if thresholds:
            for key, old in net.items():
                if key[0] == "score" and key[1] in thresholds:
                    if handled is None:
                        handled = set()
                    self._threshold_firings(contact, key[1], old, creating, fired, handled)
        # Rules through the dependency map (and, at a contact's birth or a wake, the
        # rules that hold on an empty contact or that time alone can change).
        candidates: dict[RuleSpec, None] = {}
        deps = program.rule_deps
        for key in net:
            for rule in deps.get(key, ()):
                candidates[rule] = None
        forced_general: set[int] = set()
        for rule in forced:
            if rule.threshold is None:
                candidates[rule] = None
                forced_general.add(rule.rank)
            elif handled is None or rule.rank not in handled:
                predicate = rule.threshold[1]
                value = score_of(contact, rule.threshold[0])
                if predicate(value) and should_fire(rule, contact, False, True, now):
                    cause = self._cause(rule, condition=rule.cond_text)
                    fired.append((rule.rank, len(fired), rule, None, cause))
        if at_wake:
            for rule in program.time_rules:
                candidates[rule] = None
        event_id, event_type, timer = self._origin
        for rule in candidates:
            cond = rule.cond
            assert cond is not None
            holds = bool(cond(contact, None, now))
            bit = rule.bit
            if bit:
                was = contact.truth & bit != 0
                if holds != was:
                    contact.truth ^= bit
                before = was and rule.rank not in forced_general
            else:
                before = False
            # should_fire's own early answers, without the call: most candidates
            # do not hold, or held already.
            if not holds or (before and rule.mode != "each"):
                continue
            if should_fire(rule, contact, before, holds, now):
                reads = self._reads(contact, rule, net)
                cause = Cause(rule.name, event_id, event_type, timer, rule.cond_text, reads)
                fired.append((rule.rank, len(fired), rule, None, cause))

    def _reads(self, contact: Contact, rule: RuleSpec, net: dict[Key, Any]) -> dict[str, Any]:
        reads: dict[str, Any] = {}
        for label, key in rule.read_names:
            kind = key[0]
            if kind == "history":
                continue  # a window's count is not a value a person reads
            changed = key in net
            if not changed and kind == "valuation":
                continue  # the class is shown only when it changed
            value = self.display(contact, key, self.current(contact, key))
            reads[label] = [self.display(contact, key, net[key]), value] if changed else value
        return reads

    def _engine_made(
        self,
        contact: Contact,
        net: dict[Key, Any],
        segment_events: list[tuple[str, int]],
        fired: list[tuple[int, int, RuleSpec, Any, Cause]],
    ) -> None:
        program = self.program
        now = self.writer.now
        if program.score_change_rules:
            for key, old in net.items():
                if key[0] != "score":
                    continue
                rules = program.score_change_rules.get(key[1])
                if not rules:
                    continue
                spec = program.scores[key[1]]
                before = self.display(contact, key, old)
                after = self.display(contact, key, score_of(contact, key[1]))
                delta = None if before is None or after is None else after - before
                data = {"score": spec.name, "old": before, "new": after, "delta": delta}
                self._fire_made(contact, rules, "score.change", data, fired, now)
        if program.tag_added_rules:
            for key, old in net.items():
                if key[0] == "tag" and old is False:
                    rules = tuple(
                        r for r in program.tag_added_rules if r.tag is None or r.tag == key[1]
                    )
                    if rules:
                        self._fire_made(contact, rules, "tag.added", {"tag": key[1]}, fired, now)
        for kind, index in segment_events:
            table = program.segment_enter_rules if kind == "enter" else program.segment_exit_rules
            rules = table.get(index, ())
            if rules:
                name = program.segments[index].name
                self._fire_made(contact, rules, f"segment.{kind}", {"segment": name}, fired, now)

    def _fire_made(
        self,
        contact: Contact,
        rules: tuple[RuleSpec, ...],
        event_type: str,
        data: dict[str, Any],
        fired: list[tuple[int, int, RuleSpec, Any, Cause]],
        now: float,
    ) -> None:
        made = Event(contact.id, event_type, now, None, data)
        for rule in rules:
            cond = rule.cond
            if (cond is None or cond(contact, made, now)) and modes.should_fire(
                rule, contact, False, True, now
            ):
                reads = {k: v for k, v in data.items() if k in ("old", "new")}
                if "old" in reads:
                    reads = {data["score"]: [data["old"], data["new"]]}
                cause = self._cause(
                    rule, event_type=event_type, condition=rule.cond_text, reads=reads
                )
                fired.append((rule.rank, len(fired), rule, made, cause))


def _creation_units(program: Program) -> tuple[tuple[RuleSpec, ...], frozenset[int]]:
    """What a contact's first evaluation must look at, beyond the changed inputs.

    A new contact's stored state says "in no segment", yet a segment that holds on an
    empty contact (``segment s = fit is empty``) is, for the rules, where an empty
    contact starts. If the first event keeps the contact out of it, membership never
    "changes", so the rules and segments that read it (``not in segment s``) must be
    evaluated at creation too, with the rules that hold on an empty contact.
    """
    rules: dict[RuleSpec, None] = dict.fromkeys(program.empty_true_rules)
    segments = {segment.index for segment in program.empty_true_segments}
    for segment in program.empty_true_segments:
        rules.update(dict.fromkeys(program.rule_deps.get(segment.key, ())))
        segments.update(s.index for s in program.segment_deps.get(segment.key, ()))
    return tuple(rules), frozenset(segments)


#: A plain rule's action: verb, arguments, options, and the writer method (None for an
#: outside action) with its target.
PlainAction = tuple[str, list[Any], Any, Callable[[Contact, str], bool] | None, Any]


def _plain_actions(
    program: Program,
    writer: StateWriter,
    watched: frozenset[Key],
    watch_tags: bool,
    rules: list[RuleSpec],
    *,
    any_mode: bool = False,
) -> dict[int, tuple[PlainAction, ...]]:
    """Of ``rules``, those whose firing needs nothing but their actions, by rank, with
    those actions ready to emit and apply (:mod:`engage.triggers.plain`).

    Unless ``any_mode`` (rules whose mode the caller applies), a rule must also fire
    on each false-to-true edge.
    """
    appliers: dict[str, Callable[[Contact, str], bool]] = {
        "tag": writer.add_tag,
        "untag": writer.remove_tag,
        "add_to_group": writer.add_group,
        "remove_from_group": writer.remove_group,
    }
    plain: dict[int, tuple[PlainAction, ...]] = {}
    for rule in rules:
        if not any_mode and not fires_on_each_rise(rule):
            continue
        specs = plain_specs(rule, watched, watch_tags)
        if specs is None:
            continue
        actions: list[PlainAction] = []
        for spec in specs:
            args = spec.static_args
            assert args is not None  # plain_specs checked it
            apply = appliers.get(spec.verb) if spec.state else None
            actions.append((spec.verb, args, spec.options, apply, spec.target))
        plain[rule.rank] = tuple(actions)
    return plain


def _emit_plain(
    actions: tuple[PlainAction, ...],
    contact: Contact,
    rule_name: str,
    now: float,
    event_id: str | None,
    cause: Cause,
    out: list[Action],
) -> None:
    """A plain rule's firing: its action records, and its state changes applied."""
    contact_id = contact.id
    for verb, args, options, apply, target in actions:
        out.append(Action(now, contact_id, rule_name, verb, args, event_id, options, cause))
        if apply is not None:
            apply(contact, target)


def _rank(rule: RuleSpec) -> int:
    return rule.rank


def _first(item: tuple[int, Any, Any, Any]) -> int:
    return item[0]


def _firing_order(item: tuple[int, int, RuleSpec, Any, Cause]) -> tuple[int, int]:
    return item[0], item[1]

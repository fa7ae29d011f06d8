"""A compiled rules program: what the engine runs.

The compiler (:mod:`engage.dsl.compiler`) fills these plain, slotted records from a checked
syntax tree. They hold generated predicate functions, not trees, and the dependency map
that lets the engine re-evaluate only what an event changed: for each input (a score, a
field, a tag...), the rules and segments that read it.

Inputs are named by small tuples (:data:`Key`): ``("score", 0)``, ``("field", 2)``,
``("tag", "VIP")``, ``("tags",)``, ``("group", "G")``, ``("segment", 1)``,
``("status",)``, ``("consent", "email")``, ``("valuation",)``, ``("last_activity",)``,
``("created",)``, ``("history", 3)``, ``("discard",)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from engage.actions import ActionSpec
from engage.errors import Diagnostic
from engage.policy.specs import CampaignSpec, PolicySpec
from engage.scoring.decay import Decay
from engage.time.valuation import ClassMemo
from engage.triggers.thresholds import ThresholdIndex

Key = tuple[Any, ...]

#: The start of the names of segments a flow's conditions become (``flow:NAME:exit``):
#: kept like any segment, never shown or writable as one (see engage.dsl.flow_checks).
HIDDEN_SEGMENT_PREFIX: Final = "flow:"
Predicate = Callable[[Any, Any, float], bool]
ValueFn = Callable[[Any, Any, float], Any]


class ScoreSpec:
    """A declared score."""

    __slots__ = ("decay", "high", "index", "key", "low", "name")

    def __init__(self, name: str, index: int, low: float, high: float, decay: Decay | None) -> None:
        self.name = name
        self.index = index
        self.low = low
        self.high = high
        self.decay = decay
        self.key: Key = ("score", index)


class FieldSpec:
    """A declared field."""

    __slots__ = ("index", "key", "name", "type")

    def __init__(self, name: str, index: int, type_: str) -> None:
        self.name = name
        self.index = index
        self.type = type_
        self.key: Key = ("field", index)


class ScoreLineSpec:
    """``on TYPE ±N [where] [max ...] [once]`` of one score."""

    __slots__ = (
        "cap_total",
        "cap_window",
        "cap_window_limit",
        "id",
        "once",
        "points",
        "score",
        "where",
    )

    def __init__(
        self,
        line_id: str,
        score: int,
        points: float,
        where: Predicate | None,
        *,
        cap_total: float | None = None,
        cap_window: float | None = None,
        cap_window_limit: float | None = None,
        once: bool = False,
    ) -> None:
        self.id = line_id
        self.score = score
        self.points = points
        self.where = where
        self.cap_total = cap_total
        self.cap_window = cap_window
        self.cap_window_limit = cap_window_limit
        self.once = once

    @property
    def plain(self) -> bool:
        """No filter, cap or once: the line always gives its points."""
        return (
            self.where is None
            and self.cap_total is None
            and self.cap_window is None
            and not self.once
        )


class HistoryAtom:
    """An event window read by ``had``/``count``: events of one type passing a filter."""

    __slots__ = ("event_type", "id", "key", "legacy_signature", "signature", "where", "window")

    def __init__(
        self, atom_id: int, event_type: str, where: Predicate | None, window: float
    ) -> None:
        self.id = atom_id
        #: Identifies the window across programs (type, filter, length), for reloads:
        #: the canonical text of :func:`engage.dsl.printer.window_signature`.
        self.signature = f"{event_type}||{window!r}"
        #: The signature snapshots written before the canonical one carried (the
        #: ``repr()`` of syntax-tree objects): read, to map them, never written.
        self.legacy_signature = self.signature
        self.event_type = event_type
        self.where = where
        self.window = window
        self.key: Key = ("history", atom_id)


class RuleSpec:
    """One rule, ready to evaluate. ``rank`` is its place in the firing order."""

    __slots__ = (
        "actions",
        "bit",
        "cond",
        "cond_text",
        "content",
        "cooldown",
        "event_type",
        "file",
        "flow",
        "index",
        "kind",
        "line",
        "mode",
        "name",
        "priority",
        "rank",
        "read_names",
        "reads",
        "rearm",
        "rearm_reads",
        "score",
        "segment",
        "tag",
        "threshold",
        "time_sensitive",
    )

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        #: ``when``, ``on``, ``score_change``, ``segment_enter``, ``segment_exit``,
        #: ``tag_added``, ``flow_enter``, ``flow_exit``, ``flow_goal``; ``flow_step``
        #: for the one-action rule of a flow's action step
        self.kind = kind
        self.rank = 0
        self.index = 0
        self.priority = 0
        self.file = ""
        self.line = 0
        self.event_type: str | None = None
        self.score: int | None = None
        self.segment: int | None = None
        self.tag: str | None = None
        #: The flow of an ``on flow enter|exit|goal NAME`` rule.
        self.flow: str | None = None
        self.cond: Predicate | None = None
        self.cond_text = ""
        #: An anonymous rule's whole text, blanks collapsed: what identifies it when its
        #: ``FILE:LINE`` name changes because lines moved (empty for named rules).
        self.content = ""
        self.mode = "edge"
        self.rearm: Predicate | None = None
        self.rearm_reads: tuple[Key, ...] = ()
        self.cooldown: float | None = None
        #: The rule's truth bit in ``Contact.truth`` (0: truth not stored).
        self.bit = 0
        #: ``(score index, predicate of the score value)`` for threshold-indexed rules.
        self.threshold: tuple[int, Callable[[Any], bool]] | None = None
        self.actions: tuple[ActionSpec, ...] = ()
        self.reads: tuple[Key, ...] = ()
        self.read_names: tuple[tuple[str, Key], ...] = ()
        self.time_sensitive = False

    def __repr__(self) -> str:
        return f"<RuleSpec {self.name!r} {self.kind} rank={self.rank}>"


class SegmentSpec:
    """A segment: its condition and its bit in ``Contact.segs``."""

    __slots__ = (
        "bit",
        "cond",
        "cond_text",
        "hidden",
        "index",
        "key",
        "name",
        "reads",
        "time_sensitive",
    )

    def __init__(self, name: str, index: int) -> None:
        self.name = name
        #: A flow condition's segment: kept up to date, never shown as a segment.
        self.hidden = name.startswith(HIDDEN_SEGMENT_PREFIX)
        self.index = index
        self.bit = 1 << index
        self.key: Key = ("segment", index)
        self.cond: Predicate | None = None
        self.cond_text = ""
        self.reads: tuple[Key, ...] = ()
        self.time_sensitive = False


class EventPlan:
    """What an event type does: its score lines, ``on`` rules and windows.

    ``fast`` marks types whose every score line is plain, on scores without decay, with
    no ``on`` rules and no windows: the engine applies them inline, without building a
    change set, unless a threshold is crossed.
    """

    __slots__ = ("deltas", "event_type", "fast", "history", "lines", "on_rules")

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        self.lines: tuple[ScoreLineSpec, ...] = ()
        self.on_rules: tuple[RuleSpec, ...] = ()
        self.history: tuple[HistoryAtom, ...] = ()
        self.fast = False
        self.deltas: tuple[tuple[int, float], ...] = ()


class TimeAtom:
    """Something in a condition that changes by time alone, and when it next will.

    ``kind`` is ``within`` (anchor function and window), ``valuation``, ``decay`` (score
    index and its breakpoints), ``window`` (history atom) or ``rows`` (a history-row
    condition: ``anchor(contact, None, now)`` gives its next change by time, or None).

    A ``valuation`` atom found in a condition has ``names``: the class names the
    condition tests the class against (``valuation is "dormant"``), or None when it
    reads the class otherwise. The program's one merged valuation atom has, as
    ``breakpoints``, the class windows whose end changes some such test: the boundaries
    worth a wake-up (the end of ``new`` changes nothing when only ``dormant`` is tested).

    A ``window`` atom has ``counts``: the counts from which a drop of one can change a
    condition that reads the window (``count ... >= 3``: from 3), in descending order,
    or None when every drop can (the count read as a value).
    """

    __slots__ = (
        "anchor",
        "atom",
        "breakpoints",
        "counts",
        "kind",
        "names",
        "score",
        "window",
    )

    def __init__(
        self,
        kind: str,
        *,
        anchor: ValueFn | None = None,
        window: float = 0.0,
        score: int = -1,
        breakpoints: tuple[float, ...] = (),
        atom: int = -1,
        names: frozenset[str] | None = None,
        counts: tuple[int, ...] | None = None,
    ) -> None:
        self.kind = kind
        self.names = names
        self.counts = counts
        self.anchor = anchor
        self.window = window
        self.score = score
        self.breakpoints = breakpoints
        self.atom = atom


class Program:
    """Everything the engine needs to run a set of rules files."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self.warnings: tuple[Diagnostic, ...] = ()
        self.scores: tuple[ScoreSpec, ...] = ()
        self.score_by_name: dict[str, ScoreSpec] = {}
        self.fields: tuple[FieldSpec, ...] = ()
        self.field_by_name: dict[str, FieldSpec] = {}
        self.segments: tuple[SegmentSpec, ...] = ()  # dependency order
        self.segment_by_name: dict[str, SegmentSpec] = {}
        self.rules: tuple[RuleSpec, ...] = ()  # firing order
        self.rule_by_name: dict[str, RuleSpec] = {}
        self.plans: dict[str, EventPlan] = {}
        self.history_atoms: tuple[HistoryAtom, ...] = ()
        self.classes: tuple[tuple[str, float], ...] = ()
        #: Rules and segments by the inputs they read.
        self.rule_deps: dict[Key, tuple[RuleSpec, ...]] = {}
        self.rearm_deps: dict[Key, tuple[RuleSpec, ...]] = {}
        self.segment_deps: dict[Key, tuple[SegmentSpec, ...]] = {}
        self.thresholds: dict[int, ThresholdIndex[RuleSpec]] = {}
        self.score_change_rules: dict[int, tuple[RuleSpec, ...]] = {}
        self.tag_added_rules: tuple[RuleSpec, ...] = ()
        self.segment_enter_rules: dict[int, tuple[RuleSpec, ...]] = {}
        self.segment_exit_rules: dict[int, tuple[RuleSpec, ...]] = {}
        #: ``when`` rules and segments whose condition holds on a brand-new, empty contact.
        self.empty_true_rules: tuple[RuleSpec, ...] = ()
        self.empty_true_segments: tuple[SegmentSpec, ...] = ()
        #: Units that time alone can change, and the atoms that say when.
        self.time_rules: tuple[RuleSpec, ...] = ()
        self.time_rearms: tuple[RuleSpec, ...] = ()
        self.time_segments: tuple[SegmentSpec, ...] = ()
        self.time_atoms: tuple[TimeAtom, ...] = ()
        self.valuation_watched = False
        #: The rules a wake-up can change (time-sensitive rules and those that read the
        #: recency class), in firing order, when all of them keep a truth bit: then
        #: ``wake_truth(c, None, now)``
        #: gives all their truth bits in one call, and a wake-up is a comparison of bits
        #: (see ``Cascade.wake``). Otherwise ``wake_truth`` is None.
        self.wake_rules: tuple[RuleSpec, ...] = ()
        self.wake_bits = 0
        #: Each wake rule by its truth bit (bits rise with the firing order).
        self.wake_rule_of_bit: dict[int, RuleSpec] = {}
        self.wake_truth: Callable[[Any, Any, float], int] | None = None
        #: With a wake plan, segments that time can move (reading a decayed score, a
        #: window or the class): ``wake_segments(c, None, now)`` gives their membership
        #: bits (as in ``Contact.segs``), None when there are none. A wake-up that moves
        #: one takes the general round instead of the plan.
        self.wake_segment_bits = 0
        self.wake_segments: Callable[[Any, Any, float], int] | None = None
        #: The class the cascade knows for the contact it is evaluating (read by the
        #: generated ``valuation`` reader).
        self.class_memo = ClassMemo()
        self.generated_source = ""
        #: The names of the program, for compiling queries against it.
        self.symbols: Any = None
        #: Flows in written order (engage.flows.spec.FlowSpec), by name, and the bits
        #: of every segment some flow enters from.
        self.flows: tuple[Any, ...] = ()
        self.flow_by_name: dict[str, Any] = {}
        self.flow_entry_mask = 0
        #: ``on flow enter|exit|goal NAME`` rules by (kind, flow name).
        self.flow_rules: dict[tuple[str, str], tuple[RuleSpec, ...]] = {}

        #: Declared campaigns by name, and the contact policy (None: no ``policy`` block;
        #: sends are then checked for consent, unsubscribes, suspension and bounces only,
        #: with no counters kept). See :mod:`engage.policy`.
        self.campaigns: dict[str, CampaignSpec] = {}
        self.policy: PolicySpec | None = None
        #: Contact-history statuses (:class:`engage.history.statuses.StatusTable`).
        self.statuses: Any = None
        #: Whether a rule, re-arm or segment reads the contact's history rows (a batch
        #: of tracking then runs the cascade for each contact it changes).
        self.reads_history = False
        #: Accounts and leads (:class:`engage.b2b.spec.B2BProgram`), or None when the
        #: program declares neither: then nothing of :mod:`engage.b2b` runs.
        self.b2b: Any = None

    @property
    def has_timers(self) -> bool:
        """Whether contacts may need wake-ups: time atoms, flows (waits, windows,
        re-entry), or a policy that holds sends."""
        return bool(self.time_atoms or self.flows) or (
            self.policy is not None and self.policy.may_hold
        )

    def rule(self, name: str) -> RuleSpec:
        return self.rule_by_name[name]

    def truth_table(self) -> list[str]:
        """Rule names by truth bit position (bit 0 first)."""
        by_bit = sorted((rule.bit.bit_length() - 1, rule.name) for rule in self.rules if rule.bit)
        return [name for _, name in by_bit]

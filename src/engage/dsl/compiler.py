"""From a checked syntax tree to a :class:`~engage.program.Program`.

The compiler decides, once, everything the engine would otherwise work out per event:

- each condition becomes a generated function (:mod:`engage.dsl.codegen`);
- each rule and segment gets the list of inputs it reads (the dependency map), and the
  time atoms (``within``, recency classes, decaying thresholds, event windows) that can
  change it while no event arrives;
- rules whose condition reads a single score and constants go into that score's
  :class:`~engage.triggers.thresholds.ThresholdIndex`, so an event costs O(log R + fired);
- each event type gets an :class:`~engage.program.EventPlan`: its score lines, its ``on``
  rules, the windows it feeds, and whether it can take the inline fast path;
- the rules and segments whose condition holds on a brand-new contact are listed, so a
  contact's first evaluation does not have to evaluate every rule.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from engage.actions import ActionSpec, Computed
from engage.b2b.compile import compile_entities
from engage.dsl import ast
from engage.dsl.checker import CheckedProgram, CheckedRule
from engage.dsl.codegen import CodeGenerator, literal_value
from engage.dsl.flow_compiler import FlowCompiler
from engage.dsl.printer import window_signature
from engage.dsl.walk import children
from engage.errors import Span, source_lines
from engage.history import conditions as history_conditions
from engage.policy.compile import compile_campaigns, compile_policy
from engage.program import (
    EventPlan,
    FieldSpec,
    HistoryAtom,
    Key,
    Program,
    RuleSpec,
    ScoreLineSpec,
    ScoreSpec,
    SegmentSpec,
    TimeAtom,
)
from engage.scoring.decay import Decay
from engage.state.contact import Contact
from engage.state.writer import ACCOUNT_KEY, TRACKED_KEY, VALUATION_KEY
from engage.time.valuation import EXPIRED, make_valuation
from engage.time.windows import make_counter
from engage.timeutil import format_duration
from engage.triggers.thresholds import ThresholdIndex

_BUILTIN_KEYS: dict[str, Key] = {
    "last_activity": ("last_activity",),
    "created": ("created",),
    "status": ("status",),
    "tags": ("tags",),
    "groups": ("groups",),
    "valuation": ("valuation",),
}


class _Compiler:
    def __init__(self, checked: CheckedProgram) -> None:
        self.checked = checked
        self.symbols = checked.symbols
        self.program = Program()
        self._history: dict[tuple[str, ast.Expr | None, float], HistoryAtom] = {}
        self._history_where: dict[int, tuple[str, ast.Expr | None]] = {}
        self._decays: dict[int, Decay] = {}
        for score in checked.scores:
            block = score.decl
            low = float(block.clamp.low) if block.clamp else -math.inf
            high = float(block.clamp.high) if block.clamp else math.inf
            if block.decay is not None:
                self._decays[score.index] = Decay(block.decay.half_life.seconds, low, high)
        readers = {index: decay.read for index, decay in self._decays.items()}
        self.gen = CodeGenerator(self.symbols, self, readers, checked.types)
        self._pending: list[tuple[Any, str, str]] = []  # (object, attribute, function name)
        self._sources = {f.path: f.source for f in checked.files}
        self._source_lines: dict[str, list[str]] = {}

    # -- hooks for the code generator -------------------------------------------

    def history_atom(self, node: ast.Had | ast.Count) -> int:
        key = (node.event_type, node.where, float(node.window.seconds))
        atom = self._history.get(key)
        if atom is None:
            atom = HistoryAtom(len(self._history), node.event_type, None, node.window.seconds)
            atom.signature = window_signature(node.event_type, node.where, node.window.seconds)
            atom.legacy_signature = (
                f"{node.event_type}|{node.where!r}|{float(node.window.seconds)!r}"
            )
            self._history[key] = atom
            if node.where is not None:
                self._later(atom, "where", self.gen.add_condition(node.where))
        return atom.id

    def _later(self, target: Any, attribute: str, function_name: str) -> None:
        """Bind a generated function to ``target.attribute`` once the module is built."""
        self._pending.append((target, attribute, function_name))

    # -- the whole program -------------------------------------------------------

    def run(self) -> Program:
        program = self.program
        program.sources = dict(self._sources)
        program.warnings = self.checked.warnings
        program.classes = self.symbols.classes
        program.symbols = self.symbols
        program.scores = tuple(
            ScoreSpec(
                s.name,
                s.index,
                float(s.decl.clamp.low) if s.decl.clamp else -math.inf,
                float(s.decl.clamp.high) if s.decl.clamp else math.inf,
                self._decays.get(s.index),
            )
            for s in self.checked.scores
        )
        program.score_by_name = {s.name: s for s in program.scores}
        program.fields = tuple(FieldSpec(f.name, f.index, f.type) for f in self.checked.fields)
        program.field_by_name = {f.name: f for f in program.fields}
        program.statuses = self.symbols.statuses
        self.gen.bind("_COUNTING", program.statuses.counting)
        self.gen.bind("_valuation", make_valuation(self.symbols.classes, program.class_memo))
        program.campaigns = compile_campaigns(self.symbols)
        program.policy = compile_policy(self.symbols.policy)

        # Everything that generates code comes first; then one build of the module.
        segments = self._segments()
        rules = self._rules()
        self._flows()
        lines = self._score_lines()
        program.b2b = compile_entities(self)
        thresholds = self._classify_thresholds(rules)
        self._dependencies(segments, rules, thresholds)
        self._wake_plan(rules, segments)
        functions = self.gen.build()
        for target, attribute, name in self._pending:
            setattr(target, attribute, functions[name])
        program.generated_source = self.gen.source

        program.history_atoms = tuple(sorted(self._history.values(), key=lambda a: a.id))
        self.gen.bind("_count", make_counter(program.history_atoms))
        self._build_thresholds(thresholds, functions)
        self._plans(rules, lines)
        self._first_evaluation(segments, rules)
        return program

    # -- segments ---------------------------------------------------------------

    def _segments(self) -> list[tuple[SegmentSpec, ast.Expr]]:
        result = []
        specs: dict[str, SegmentSpec] = {}
        for checked in self.checked.segments:
            spec = SegmentSpec(checked.name, self.symbols.segments[checked.name])
            cond = checked.decl.condition
            spec.cond_text = self._text(checked.file, cond)
            self._later(spec, "cond", self.gen.add_condition(cond))
            result.append((spec, cond))
            specs[checked.name] = spec
        self.program.segments = tuple(spec for spec, _ in result)
        self.program.segment_by_name = specs
        return result

    # -- rules ------------------------------------------------------------------

    def _rules(self) -> list[tuple[RuleSpec, CheckedRule]]:
        ordered = sorted(self.checked.rules, key=lambda r: (-r.decl.priority, r.position))
        result = []
        for rank, checked in enumerate(ordered):
            decl = checked.decl
            trigger = decl.trigger
            spec = RuleSpec(checked.name, _trigger_kind(trigger))
            spec.rank = rank
            spec.index = rank
            spec.priority = decl.priority
            spec.file = checked.file
            spec.line = decl.span.line
            if decl.name is None:
                spec.content = " ".join(self._text(checked.file, decl).split())
            condition: ast.Expr | None
            match trigger:
                case ast.WhenTrigger(condition=condition):
                    spec.mode = decl.mode.kind
                case ast.OnEvent(event_type=event_type, where=condition):
                    spec.event_type = event_type
                case ast.OnScoreChange(score=score, where=condition):
                    spec.score = self.symbols.scores[score].index
                case ast.OnSegment(segment=segment, where=condition):
                    spec.segment = self.symbols.segments[segment]
                case ast.OnTagAdded(tag=tag, where=condition):
                    spec.tag = tag
                case ast.OnFlow(flow=flow, where=condition):
                    spec.flow = flow
            if spec.kind != "when":
                spec.mode = "each" if decl.mode.kind == "edge" else decl.mode.kind
            if condition is not None:
                spec.cond_text = self._text(checked.file, condition)
                self._later(spec, "cond", self.gen.add_condition(condition))
            if decl.mode.rearm is not None:
                self._later(spec, "rearm", self.gen.add_condition(decl.mode.rearm))
                spec.rearm_reads = tuple(sorted(self._reads(decl.mode.rearm), key=repr))
            if decl.mode.cooldown is not None:
                spec.cooldown = float(decl.mode.cooldown.seconds)
            spec.actions = tuple(self._action(action, checked.file) for action in decl.actions)
            if condition is not None:
                spec.reads = tuple(sorted(self._reads(condition), key=repr))
                spec.read_names = tuple(self._read_names(condition))
            result.append((spec, checked))
        self.program.rules = tuple(spec for spec, _ in result)
        self.program.rule_by_name = {spec.name: spec for spec in self.program.rules}
        return result

    def _action(self, action: ast.ActionNode, file: str) -> ActionSpec:
        sym = self.symbols
        match action:
            case ast.TagAction(verb=verb, tag=tag):
                return ActionSpec(verb, (tag,), target=tag)
            case ast.GroupAction(verb=verb, group=group):
                return ActionSpec(verb, (group,), target=group)
            case ast.SetAction(field=field, value=value):
                fn = self._value_fn(value, file)
                return ActionSpec("set", (field, fn), target=self._assign_target(field))
            case ast.ClearAction(field=field):
                return ActionSpec("clear", (field,), target=self._assign_target(field))
            case ast.ScoreAction(verb=verb, amount=amount, score=score):
                fn = self._value_fn(amount, file)
                return ActionSpec(verb, (score, fn), target=sym.scores[score].index)
            case ast.StatusAction(verb=verb):
                return ActionSpec(verb)
            case ast.UnsubscribeAction(scope=scope, scope_name=name, channel=channel):
                options: dict[str, Any] = {}
                entries: list[tuple[str, str | None, str | None]] = [(scope, name, channel)]
                if scope != "all":
                    options[scope] = name
                if action.and_category and name is not None:
                    category = self.program.campaigns[name].category
                    options["category"] = category
                    entries.append(("category", category, channel))
                if channel is not None:
                    options["channel"] = channel
                return ActionSpec("unsubscribe", (), target=tuple(entries), options=options or None)
            case ast.ListAction(verb=verb, list_name=list_name):
                return ActionSpec(verb, (list_name,), target=list_name)
            case ast.TrackAction(
                status=status, campaign=campaign, offer=offer, channel=channel, mode=mode
            ):
                options = {}
                if campaign is not None:
                    options["campaign"] = campaign
                if offer is not None:
                    options["offer"] = offer
                if channel is not None:
                    options["channel"] = channel
                if mode != "both":
                    options["mode"] = mode
                # The row gets the declared spelling; the action shows what was written.
                target = (sym.statuses.canonical(status), campaign, offer, channel, mode)
                return ActionSpec("track", (status,), target=target, options=options or None)
            case ast.FlowAction(verb=verb, flow=flow):
                return ActionSpec(verb, (flow,), target=flow)
            case ast.NotifyAction(team=team, message=message):
                args: tuple[Any, ...] = (team,) if message is None else (team, message)
                return ActionSpec("notify", args)
            case ast.TaskAction(title=title, team=team, due=due):
                options = {}
                if team is not None:
                    options["for"] = team
                if due is not None:
                    options["due_in"] = format_duration(due.seconds)
                return ActionSpec(
                    "create_task",
                    (title,),
                    target=None if due is None else float(due.seconds),
                    options=options or None,
                )
            case ast.SendAction(channel=channel, template=template, campaign=campaign):
                options = {}
                if campaign is not None:
                    options["campaign"] = campaign
                    declared = self.program.campaigns.get(campaign)
                    if declared is not None and not action.transactional:
                        options["unsubscribe"] = declared.unsubscribe_link(channel)
                if action.transactional:
                    options["transactional"] = True
                return ActionSpec(
                    f"send_{channel}", (template,), target=channel, options=options or None
                )
            case ast.WebhookAction(url=url):
                return ActionSpec("call_webhook", (url,))
            case ast.ExportAction(kind=kind, name=name):
                return ActionSpec(f"export_{kind}", (name,))
            case ast.DoAction(name=name, args=do_args):
                computed = tuple(self._value_fn(arg, file) for arg in do_args)
                return ActionSpec(name, computed)
        raise TypeError(f"unknown action {action!r}")  # pragma: no cover

    def _value_fn(self, expr: ast.Expr, file: str) -> Any:
        is_literal, value = literal_value(expr)
        if is_literal and not isinstance(expr, ast.TimeLit | ast.DurationLit):
            return value
        computed = Computed(lambda c, ev, now: None, self._text(file, expr))
        self._later(computed, "fn", self.gen.add_value(expr))
        return computed

    def _assign_target(self, name: str) -> Key:
        if name in self.symbols.scores:
            return ("score", self.symbols.scores[name].index)
        return ("field", self.symbols.fields[name].index)

    # -- flows ------------------------------------------------------------------

    def _flows(self) -> None:
        decls = [
            (decl, rules_file.path)
            for rules_file in self.checked.files
            for decl in rules_file.decls
            if isinstance(decl, ast.FlowDecl)
        ]
        if not decls:
            return
        compiler = FlowCompiler(
            self.symbols.segments,
            self._action,
            self.gen.add_condition,
            self._later,
            self._text,
            self._raw_text,
        )
        program = self.program
        program.flows = compiler.compile(decls)
        program.flow_by_name = {flow.name: flow for flow in program.flows}
        for flow in program.flows:
            program.flow_entry_mask |= flow.segment_mask

    # -- score lines ------------------------------------------------------------

    def _score_lines(self) -> list[tuple[str, ScoreLineSpec]]:
        lines = []
        for score in self.checked.scores:
            seen: dict[str, int] = {}
            for line in score.decl.lines:
                # Cap bookkeeping is kept per line under this id, which survives edits
                # elsewhere in the file (and a reload) as long as the line itself stays.
                number = seen[line.event_type] = seen.get(line.event_type, -1) + 1
                cap_total = cap_window = cap_limit = None
                match line.cap:
                    case ast.CapTotal(limit=limit):
                        cap_total = float(limit)
                    case ast.CapPerWindow(limit=limit, window=window):
                        cap_window = float(window.seconds)
                        cap_limit = float(limit)
                    case None:
                        pass
                spec = ScoreLineSpec(
                    f"{score.name}:{line.event_type}:{number}",
                    score.index,
                    line.points,
                    None,
                    cap_total=cap_total,
                    cap_window=cap_window,
                    cap_window_limit=cap_limit,
                    once=line.once,
                )
                if line.where is not None:
                    self._later(spec, "where", self.gen.add_condition(line.where))
                lines.append((line.event_type, spec))
        return lines

    # -- reads and time atoms ----------------------------------------------------

    def _reads(self, expr: ast.Expr) -> set[Key]:
        """The inputs a condition reads (event attributes excluded)."""
        sym = self.symbols
        keys: set[Key] = set()
        for node in _walk_state(expr):
            match node:
                case ast.Name(name=name):
                    if name in sym.scores:
                        keys.add(("score", sym.scores[name].index))
                    elif name in sym.fields:
                        keys.add(("field", sym.fields[name].index))
                    elif name in _BUILTIN_KEYS:
                        keys.add(_BUILTIN_KEYS[name])
                case ast.Consent(channel=channel):
                    keys.add(("consent", channel))
                case ast.Tagged(tag=tag):
                    keys.add(("tag", tag))
                case ast.InGroup(group=group):
                    keys.add(("group", group))
                case ast.InSegment(segment=segment):
                    keys.add(("segment", sym.segments[segment]))
                case ast.Subscribed(list_name=list_name):
                    keys.add(("list", list_name))
                case ast.EntityAttr():
                    keys.add(ACCOUNT_KEY)  # re-read when the contact changes account
                case ast.Had() | ast.Count():
                    keys.add(("history", self.history_atom(node)))
                case ast.HadStatus() | ast.StatusFor() | ast.CountContacts():
                    keys.add(TRACKED_KEY)
                case _:
                    pass
        return keys

    def _read_names(self, expr: ast.Expr) -> Iterable[tuple[str, Key]]:
        """Display names of the inputs a condition reads, for ``why``."""
        seen: set[str] = set()
        for node in _walk_state(expr):
            label: str | None = None
            match node:
                case ast.Name(name=name):
                    label = name
                case ast.Consent(channel=channel):
                    label = f"consent.{channel}"
                case ast.Tagged(tag=tag):
                    label = f"tagged {tag!r}"
                case ast.InGroup(group=group):
                    label = f"in group {group!r}"
                case ast.InSegment(segment=segment):
                    label = f"in segment {segment}"
                case ast.Subscribed(list_name=list_name):
                    label = f"subscribed to {list_name!r}"
                case ast.EntityAttr(entity=entity, name=name):
                    label = f"{entity}.{name}"
                case ast.Had(event_type=t) | ast.Count(event_type=t):
                    label = f"{'had' if isinstance(node, ast.Had) else 'count'} {t}"
                case ast.HadStatus(status=status):
                    label = f"had status {status!r}"
                case ast.StatusFor(campaign=campaign):
                    label = f"status for campaign {campaign!r}"
                case ast.CountContacts():
                    label = "count contacts"
                case _:
                    pass
            if label is not None and label not in seen:
                seen.add(label)
                keys = self._reads(node)
                if keys:
                    yield label, next(iter(keys))

    def _time_atoms(self, expr: ast.Expr) -> list[TimeAtom]:
        """What in a condition changes by time alone."""
        atoms: list[TimeAtom] = []
        # The class names each read of the class is compared with (parents come first).
        tested: dict[int, frozenset[str]] = {}
        # The counts at which each ``count`` compared with a constant can change its test.
        counted: dict[int, frozenset[int]] = {}
        for node in _walk_state(expr):
            test = _class_test(node)
            if test is not None:
                tested[id(test[0])] = test[1]
            count_test = _count_test(node)
            if count_test is not None:
                counted[id(count_test[0])] = count_test[1]
            match node:
                case ast.Name(name="valuation"):
                    atoms.append(TimeAtom("valuation", names=tested.get(id(node))))
                case ast.Within(operand=operand, window=window):
                    atom = TimeAtom("within", window=float(window.seconds))
                    self._later(atom, "anchor", self.gen.add_value(operand))
                    atoms.append(atom)
                case ast.Had() | ast.Count():
                    atom_id = self.history_atom(node)
                    # ``had`` changes when its count drops from 1; an uncompared count,
                    # at any drop (no counts given).
                    counts = frozenset((1,)) if isinstance(node, ast.Had) else None
                    counts = counted.get(id(node), counts)
                    atoms.append(
                        TimeAtom(
                            "window",
                            atom=atom_id,
                            window=float(node.window.seconds),
                            counts=None if counts is None else _descending(counts),
                        )
                    )
                case ast.HadStatus() | ast.CountContacts():
                    atoms.append(self._rows_atom(node))
                case ast.Compare() | ast.Between() | ast.InList() | ast.IsEmpty():
                    for name, points in _score_constants(node):
                        if self.symbols.decaying(name):
                            index = self.symbols.scores[name].index
                            atoms.append(TimeAtom("decay", score=index, breakpoints=tuple(points)))
                case _:
                    pass
        return atoms

    def _rows_atom(self, node: ast.HadStatus | ast.CountContacts) -> TimeAtom:
        """The time atom of a history condition: its ``anchor`` gives the next moment
        at which time alone changes it (see :mod:`engage.history.conditions`)."""
        window = float(node.window.seconds)
        anchor: Callable[[Any, Any, float], float | None]
        if isinstance(node, ast.HadStatus):
            status = self.symbols.statuses.canonical(node.status)
            campaign = node.campaign

            def anchor(contact: Any, _event: Any, now: float) -> float | None:
                return history_conditions.had_status_changes_at(
                    contact, status, campaign, window, now
                )

        else:
            counting = self.symbols.statuses.counting

            def anchor(contact: Any, _event: Any, now: float) -> float | None:
                return history_conditions.count_contacts_changes_at(contact, window, now, counting)

        return TimeAtom("rows", anchor=anchor, window=window)

    # -- thresholds, dependencies, plans ----------------------------------------

    def _classify_thresholds(
        self, rules: list[tuple[RuleSpec, CheckedRule]]
    ) -> dict[int, list[tuple[RuleSpec, list[float], str]]]:
        """Single-score ``when`` rules go to a threshold index; the others get truth bits.

        Returns, per score index, the indexed rules with their breakpoints and the name
        of their generated predicate of the score value.
        """
        per_score: dict[int, list[tuple[RuleSpec, list[float], str]]] = defaultdict(list)
        bit = 0
        for spec, checked in rules:
            if spec.kind != "when":
                continue
            trigger = checked.decl.trigger
            assert isinstance(trigger, ast.WhenTrigger)
            single = _single_score(trigger.condition, self.symbols)
            if single is not None and spec.mode != "each":
                name, points = single
                index = self.symbols.scores[name].index
                fn_name = self.gen.add_score_predicate(trigger.condition, name)
                per_score[index].append((spec, points, fn_name))
            elif spec.mode != "each":
                spec.bit = 1 << bit
                bit += 1
        return per_score

    def _build_thresholds(
        self,
        per_score: dict[int, list[tuple[RuleSpec, list[float], str]]],
        functions: dict[str, Any],
    ) -> None:
        for index, entries in per_score.items():
            for spec, _, fn_name in entries:
                spec.threshold = (index, functions[fn_name])
            self.program.thresholds[index] = ThresholdIndex(
                (spec, points, functions[fn_name]) for spec, points, fn_name in entries
            )

    def _dependencies(
        self,
        segments: list[tuple[SegmentSpec, ast.Expr]],
        rules: list[tuple[RuleSpec, CheckedRule]],
        thresholds: dict[int, list[tuple[RuleSpec, list[float], str]]],
    ) -> None:
        program = self.program
        indexed = {id(spec) for entries in thresholds.values() for spec, _, _ in entries}
        rule_deps: dict[Key, list[RuleSpec]] = defaultdict(list)
        rearm_deps: dict[Key, list[RuleSpec]] = defaultdict(list)
        segment_deps: dict[Key, list[SegmentSpec]] = defaultdict(list)
        atoms: list[TimeAtom] = []
        time_rules: list[RuleSpec] = []
        time_rearms: list[RuleSpec] = []
        time_segments: list[SegmentSpec] = []
        for segment, cond in segments:
            segment.reads = tuple(sorted(self._reads(cond), key=repr))
            for key in segment.reads:
                segment_deps[key].append(segment)
            found = self._time_atoms(cond)
            if found:
                segment.time_sensitive = True
                time_segments.append(segment)
                atoms.extend(found)
        for spec, checked in rules:
            trigger = checked.decl.trigger
            if isinstance(trigger, ast.WhenTrigger):
                if id(spec) not in indexed:
                    for key in spec.reads:
                        rule_deps[key].append(spec)
                found = self._time_atoms(trigger.condition)
                if found:
                    spec.time_sensitive = True
                    atoms.extend(found)
                    # A rule that time changes only through the recency class is
                    # re-evaluated through its dependency on the class, which the
                    # cascade recomputes at every wake: no need to evaluate it then.
                    only_valuation = all(atom.kind == "valuation" for atom in found)
                    if spec.mode != "each" and not (only_valuation and id(spec) not in indexed):
                        time_rules.append(spec)
            rearm = checked.decl.mode.rearm
            if rearm is not None:
                for key in spec.rearm_reads:
                    rearm_deps[key].append(spec)
                found = self._time_atoms(rearm)
                if found:
                    atoms.extend(found)
                    time_rearms.append(spec)
        program.rule_deps = {k: tuple(v) for k, v in rule_deps.items()}
        program.rearm_deps = {k: tuple(v) for k, v in rearm_deps.items()}
        program.segment_deps = {k: tuple(v) for k, v in segment_deps.items()}
        program.time_rules = tuple(time_rules)
        program.time_rearms = tuple(time_rearms)
        program.time_segments = tuple(time_segments)
        program.time_atoms = _merge_atoms(atoms, program.classes)
        program.valuation_watched = any(a.kind == "valuation" for a in program.time_atoms)
        program.reads_history = TRACKED_KEY in program.rule_deps or any(
            TRACKED_KEY in deps for deps in (program.segment_deps, program.rearm_deps)
        )
        program.score_change_rules = _group(rules, "score_change", lambda s: s.score)
        program.segment_enter_rules = _group(rules, "segment_enter", lambda s: s.segment)
        program.segment_exit_rules = _group(rules, "segment_exit", lambda s: s.segment)
        program.tag_added_rules = tuple(s for s, _ in rules if s.kind == "tag_added")
        flow_rules: dict[tuple[str, str], list[RuleSpec]] = defaultdict(list)
        for spec, _ in rules:
            if spec.flow is not None:
                flow_rules[spec.kind.removeprefix("flow_"), spec.flow].append(spec)
        program.flow_rules = {key: tuple(specs) for key, specs in flow_rules.items()}

    def _wake_plan(
        self,
        rules: list[tuple[RuleSpec, CheckedRule]],
        segments: list[tuple[SegmentSpec, ast.Expr]],
    ) -> None:
        """One generated function for the truth of every rule a wake-up can change.

        A wake-up changes nothing stored: only the recency class and what time reads
        (decayed scores, windows) move. When every rule that can see that keeps a truth
        bit, a wake-up's first round is just "which bits rose", answered by one call
        instead of a call per rule (after the re-arm conditions that time can change,
        which :meth:`Cascade.wake <engage.triggers.cascade.Cascade.wake>` evaluates
        first, as the general round does).

        Segments that time can move get a second generated call, which gives their
        membership bits: a wake-up that moves none of them (nearly all do not) takes
        the plan; one that moves a segment takes the general round, which also fires
        the segment's enter and exit rules.
        """
        program = self.program
        if not program.time_atoms:
            return
        chosen = {id(rule) for rule in program.time_rules}
        chosen.update(id(rule) for rule in program.rule_deps.get(VALUATION_KEY, ()))
        wake_rules: list[tuple[RuleSpec, ast.Expr]] = []
        for spec, checked in rules:
            if id(spec) not in chosen:
                continue
            trigger = checked.decl.trigger
            if not spec.bit or not isinstance(trigger, ast.WhenTrigger):
                return
            wake_rules.append((spec, trigger.condition))
        program.wake_rules = tuple(spec for spec, _ in wake_rules)
        program.wake_bits = sum(spec.bit for spec in program.wake_rules)
        program.wake_rule_of_bit = {spec.bit: spec for spec in program.wake_rules}
        # Truth bits are given in firing order, so the lowest rising bit fires first.
        bits = [spec.bit for spec in program.wake_rules]
        assert bits == sorted(bits)
        name = self.gen.add_mask([(cond, spec.bit) for spec, cond in wake_rules])
        self._later(program, "wake_truth", name)
        moved = {id(segment) for segment in program.time_segments}
        moved.update(id(segment) for segment in program.segment_deps.get(VALUATION_KEY, ()))
        wake_segments = [(spec, cond) for spec, cond in segments if id(spec) in moved]
        if wake_segments:
            program.wake_segment_bits = sum(spec.bit for spec, _ in wake_segments)
            name = self.gen.add_mask([(cond, spec.bit) for spec, cond in wake_segments])
            self._later(program, "wake_segments", name)

    def _plans(
        self,
        rules: list[tuple[RuleSpec, CheckedRule]],
        lines: list[tuple[str, ScoreLineSpec]],
    ) -> None:
        plans: dict[str, EventPlan] = {}

        def plan(event_type: str) -> EventPlan:
            if event_type not in plans:
                plans[event_type] = EventPlan(event_type)
            return plans[event_type]

        for event_type, line in lines:
            current = plan(event_type)
            current.lines = (*current.lines, line)
        for spec, _ in rules:
            if spec.kind == "on" and spec.event_type is not None:
                current = plan(spec.event_type)
                current.on_rules = (*current.on_rules, spec)
        for atom in self.program.history_atoms:
            current = plan(atom.event_type)
            current.history = (*current.history, atom)
        for current in plans.values():
            current.fast = (
                bool(current.lines)
                and not current.on_rules
                and not current.history
                and all(line.plain for line in current.lines)
                and all(self.program.scores[line.score].decay is None for line in current.lines)
                and all(
                    self.program.scores[line.score].low == -math.inf
                    and self.program.scores[line.score].high == math.inf
                    for line in current.lines
                )
            )
            totals: dict[int, float] = {}
            for line in current.lines:
                totals[line.score] = totals.get(line.score, 0) + line.points
            current.deltas = tuple(totals.items())
        self.program.plans = plans

    def _first_evaluation(
        self,
        segments: list[tuple[SegmentSpec, ast.Expr]],
        rules: list[tuple[RuleSpec, CheckedRule]],
    ) -> None:
        """Rules and segments that hold on an empty contact (first evaluation)."""
        empty = Contact("", 0.0, len(self.program.scores))
        true_segments = []
        for segment, _ in segments:
            assert segment.cond is not None
            if segment.cond(empty, None, 0.0):
                empty.segs |= segment.bit
                true_segments.append(segment)
        true_rules = []
        for spec, _ in rules:
            if spec.kind != "when":
                continue
            if spec.threshold is not None:
                holds = spec.threshold[1](None)
            else:
                assert spec.cond is not None
                holds = spec.cond(empty, None, 0.0)
            if holds:
                true_rules.append(spec)
        self.program.empty_true_segments = tuple(true_segments)
        self.program.empty_true_rules = tuple(true_rules)

    # -- helpers ------------------------------------------------------------------

    def _source_parts(self, file: str, node: Any) -> list[str]:
        """The source lines a node spans, cut at its first and last column."""
        lines = self._source_lines.get(file)
        if lines is None:
            lines = self._source_lines[file] = source_lines(self._sources.get(file, ""))
        span: Span = node.span
        if not (0 < span.line <= len(lines)) or span.end_line < span.line:
            return []
        if span.end_line == span.line:
            return [lines[span.line - 1][span.column - 1 : span.end_column - 1]]
        parts = [lines[span.line - 1][span.column - 1 :]]
        parts.extend(lines[span.line : span.end_line - 1])
        parts.append(lines[span.end_line - 1][: span.end_column - 1])
        return parts

    def _raw_text(self, file: str, node: Any) -> str:
        """The source text of a node exactly as written (lines and comments kept)."""
        return "\n".join(self._source_parts(file, node))

    def _text(self, file: str, expr: Any) -> str:
        """The source text of an expression (for explanations) or of a whole rule."""
        parts = self._source_parts(file, expr)
        if len(parts) == 1:
            return parts[0]
        return " ".join(part.strip() for part in parts)


def _trigger_kind(trigger: ast.Trigger) -> str:
    match trigger:
        case ast.WhenTrigger():
            return "when"
        case ast.OnEvent():
            return "on"
        case ast.OnScoreChange():
            return "score_change"
        case ast.OnSegment(kind=kind):
            return f"segment_{kind}"
        case ast.OnTagAdded():
            return "tag_added"
        case ast.OnFlow(kind=kind):
            return f"flow_{kind}"
    raise TypeError(trigger)  # pragma: no cover


_HISTORY_NODES = (ast.Had, ast.Count)


def _walk_state(expr: ast.Expr) -> Iterable[ast.Expr]:
    """Nodes of a condition that read contact state: not inside ``had``/``count`` filters."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _HISTORY_NODES):
            continue  # their filters read the recorded event, at its own time
        stack.extend(reversed(children(node)))


def _class_test(node: ast.Expr) -> tuple[ast.Expr, frozenset[str]] | None:
    """``(the read of the class, the names it is compared with)`` when ``node`` is
    ``valuation is "X"``, ``is not``, or ``in``/``not in`` a list of names."""
    if isinstance(node, ast.Compare) and node.op in ("==", "!="):
        read, other = node.left, node.right
        if (
            isinstance(read, ast.Name)
            and read.name == "valuation"
            and isinstance(other, ast.String)
        ):
            return read, frozenset((other.value,))
    elif isinstance(node, ast.InList):
        read = node.operand
        if isinstance(read, ast.Name) and read.name == "valuation":
            names = [item.value for item in node.items.items if isinstance(item, ast.String)]
            if len(names) == len(node.items.items):
                return read, frozenset(names)
    return None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _descending(counts: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(counts), reverse=True))


def _count_test(node: ast.Expr) -> tuple[ast.Expr, frozenset[int]] | None:
    """``(the count, the counts it can change its test at)`` when ``node`` compares a
    ``count`` with a number: time only lowers a count, one at a time, and the test can
    only change on a drop from a count ``k`` where it differs between ``k`` and
    ``k - 1`` (next to the constant)."""
    if not isinstance(node, ast.Compare):
        return None
    compare = _COMPARE[node.op]
    for read, other, flipped in ((node.left, node.right, False), (node.right, node.left, True)):
        if not isinstance(read, ast.Count):
            continue
        is_lit, value = literal_value(other)
        if not is_lit or not isinstance(value, int | float) or isinstance(value, bool):
            return None
        if not math.isfinite(value):
            return None
        constant = float(value)

        def test(count: int, constant: float = constant, flipped: bool = flipped) -> bool:
            return compare(constant, count) if flipped else compare(count, constant)

        low = max(1, math.floor(constant) - 1)
        drops = range(low, math.ceil(constant) + 3)
        return read, frozenset(k for k in drops if test(k) != test(k - 1))
    return None


def _score_constants(node: ast.Expr) -> list[tuple[str, list[float]]]:
    """``(score name, constants)`` when ``node`` compares a bare name with constants."""
    match node:
        case (
            ast.Compare(left=ast.Name(name=name), right=other)
            | ast.Compare(left=other, right=ast.Name(name=name))
        ):
            is_lit, value = literal_value(other)
            if is_lit and isinstance(value, int | float) and not isinstance(value, bool):
                return [(name, [float(value)])]
        case ast.Between(operand=ast.Name(name=name), low=low, high=high):
            lows, highs = literal_value(low), literal_value(high)
            if lows[0] and highs[0]:
                return [(name, [float(lows[1]), float(highs[1])])]
        case ast.InList(operand=ast.Name(name=name), items=items):
            values = [literal_value(item) for item in items.items]
            if all(is_lit and isinstance(v, int | float) for is_lit, v in values):
                return [(name, [float(v) for _, v in values])]
        case ast.IsEmpty(operand=ast.Name(name=name)):
            return [(name, [])]
        case _:
            pass
    return []


def _single_score(expr: ast.Expr, symbols: Any) -> tuple[str, list[float]] | None:
    """``(score, breakpoints)`` if ``expr`` reads one non-decaying score and constants."""
    names: set[str] = set()
    points: list[float] = []

    def visit(node: ast.Expr) -> bool:
        match node:
            case ast.And(items=items) | ast.Or(items=items):
                return all(visit(item) for item in items)
            case ast.Not(operand=operand):
                return visit(operand)
            case ast.Compare() | ast.Between() | ast.InList() | ast.IsEmpty():
                found = _score_constants(node)
                if not found:
                    return False
                name, constants = found[0]
                if name not in symbols.scores or symbols.decaying(name):
                    return False
                names.add(name)
                points.extend(constants)
                return True
            case ast.Bool():
                return True
            case _:
                return False

    if visit(expr) and len(names) == 1:
        return names.pop(), points
    return None


def _merge_atoms(
    atoms: list[TimeAtom], classes: Sequence[tuple[str, float]]
) -> tuple[TimeAtom, ...]:
    """One atom per valuation, per window and per decaying score (breakpoints merged;
    the valuation's are the class boundaries some condition tells apart; a window's
    counts, the union of its uses')."""
    merged: list[TimeAtom] = []
    seen_windows: dict[int, TimeAtom] = {}
    decay_points: dict[int, set[float]] = defaultdict(set)
    valuation = False
    tests: list[frozenset[str] | None] = []
    for atom in atoms:
        if atom.kind == "valuation":
            valuation = True
            tests.append(atom.names)
        elif atom.kind == "window":
            known = seen_windows.get(atom.atom)
            if known is None:
                known = seen_windows[atom.atom] = TimeAtom(
                    "window", atom=atom.atom, window=atom.window, counts=atom.counts
                )
                merged.append(known)
            elif known.counts is not None:
                merged_counts = None
                if atom.counts is not None:
                    merged_counts = _descending({*known.counts, *atom.counts})
                known.counts = merged_counts
        elif atom.kind == "decay":
            decay_points[atom.score].update(atom.breakpoints)
        else:
            merged.append(atom)
    if valuation:
        merged.insert(0, TimeAtom("valuation", breakpoints=_class_boundaries(classes, tests)))
    for score, points in sorted(decay_points.items()):
        merged.append(TimeAtom("decay", score=score, breakpoints=tuple(sorted(points))))
    return tuple(merged)


def _class_boundaries(
    classes: Sequence[tuple[str, float]], tests: list[frozenset[str] | None]
) -> tuple[float, ...]:
    """The windows of ``classes`` whose end changes one of ``tests`` (sets of class
    names a condition compares the class with; None: every end changes it).

    At the end of a class's window the class becomes the next one (``expired`` after
    the last): only a test holding for one of the two and not the other can see it.
    """
    names = [name for name, _ in classes]
    ends: list[float] = []
    for number, (name, window) in enumerate(classes):
        after = names[number + 1] if number + 1 < len(names) else EXPIRED
        if any(test is None or (name in test) != (after in test) for test in tests):
            ends.append(window)
    return tuple(ends)


def _group(
    rules: list[tuple[RuleSpec, CheckedRule]], kind: str, key: Any
) -> dict[int, tuple[RuleSpec, ...]]:
    grouped: dict[int, list[RuleSpec]] = defaultdict(list)
    for spec, _ in rules:
        if spec.kind == kind:
            grouped[key(spec)].append(spec)
    return {k: tuple(v) for k, v in grouped.items()}


def compile_program(checked: CheckedProgram) -> Program:
    """Compile a checked program (see the module docstring for what is decided here)."""
    return _Compiler(checked).run()

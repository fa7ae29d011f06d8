"""Moving an engine's state in and out: snapshot headers, restore, and rule reloads.

Restoring a snapshot and reloading rules are one operation: install contact records
written under one program into an engine running another. When the programs are the
same (the usual restore), records load as they are. When they differ, state is mapped
by *name*: scores, fields, segments and rule marks follow their names, event windows
follow their signature, a score whose decay changed is re-expressed at the clock, and a
``when`` rule that is new (or whose condition changed) starts from the truth it has now,
without firing — unless a backfill is asked for, in which case it fires for the contacts
that match, as marketers expect when they add a trigger "for existing contacts".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from engage import __version__
from engage.actions import Action, EntityAction
from engage.errors import EventError, SnapshotError
from engage.events import Event, envelope_key, field_value
from engage.history.state import HEADER_KEY as HISTORY_HEADER
from engage.program import Program
from engage.state.contact import (
    DISARMED,
    LAST_FIRED,
    LINE_STATE,
    ONCE_FIRED,
    RECORD_FIELDS,
    WINDOWS,
    Contact,
    from_record,
    put_score,
    record_flows,
    tag_collection,
    to_record,
)
from engage.storage.snapshot import FORMAT_VERSION, SnapshotData, program_tables
from engage.triggers.cascade import Problem

if TYPE_CHECKING:
    from engage.engine.state import EngineState


@attrs.define
class ReloadReport:
    """What a restore into different rules, or a reload, changed."""

    removed_scores: list[str] = attrs.Factory(list)
    removed_fields: list[str] = attrs.Factory(list)
    retyped_fields: list[str] = attrs.Factory(list)
    dropped_values: int = 0
    new_rules: list[str] = attrs.Factory(list)
    changed_rules: list[str] = attrs.Factory(list)
    removed_rules: list[str] = attrs.Factory(list)
    #: ``(old name, new name)`` of anonymous rules that only moved: their state is kept.
    moved_rules: list[tuple[str, str]] = attrs.Factory(list)
    backfilled_actions: list[Action] = attrs.Factory(list)
    #: Contacts leaving flows (or versions of flows) that can no longer run (reason
    #: ``removed``): the flow is gone from the rules, or its version no longer compiles.
    flow_actions: list[Action] = attrs.Factory(list)

    def messages(self) -> list[str]:
        """One line per thing a person should know."""
        lines = []
        if self.flow_actions:
            flows = sorted({action.args[0] for action in self.flow_actions})
            lines.append(
                f"{len(self.flow_actions)} contacts left flows that can no longer run "
                f"(reason removed): {', '.join(flows)}"
            )
        if self.removed_scores:
            lines.append("removed scores (values dropped): " + ", ".join(self.removed_scores))
        if self.removed_fields:
            lines.append("removed fields (values dropped): " + ", ".join(self.removed_fields))
        if self.retyped_fields:
            lines.append(
                f"fields with a new type: {', '.join(self.retyped_fields)} "
                f"({self.dropped_values} values that do not fit were dropped)"
            )
        if self.new_rules:
            lines.append("new rules: " + ", ".join(self.new_rules))
        if self.changed_rules:
            lines.append("rules with a changed condition: " + ", ".join(self.changed_rules))
        if self.removed_rules:
            lines.append("removed rules: " + ", ".join(self.removed_rules))
        if self.moved_rules:
            lines.append(
                "rules that moved (their state is kept): "
                + ", ".join(f"{old} -> {new}" for old, new in self.moved_rules)
            )
        return lines


def rules_digest(program: Program) -> str:
    """A fingerprint of the rules' source text."""
    digest = hashlib.sha256()
    for name, text in sorted(program.sources.items()):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def action_record(action: Action) -> dict[str, Any]:
    return {
        "time": action.time,
        "contact": action.contact,
        "rule": action.rule,
        "action": action.action,
        "args": action.args,
        "event": action.event,
        "options": action.options,
        "suppressed": action.suppressed,
        "status": action.status,
        "error": action.error,
        "step": action.step,
        "version": action.version,
        "account": action.account,
        "lead": action.lead,
    }


def action_from_record(record: dict[str, Any]) -> Action:
    entity = record.get("account") is not None or record.get("lead") is not None
    action = (EntityAction if entity else Action)(
        record["time"],
        record["contact"],
        record["rule"],
        record["action"],
        list(record["args"]),
        record["event"],
        record["options"],
    )
    action.suppressed = record["suppressed"]
    action.status = record["status"]
    action.error = record["error"]
    # Snapshots written before flows have no step or version.
    action.step = record.get("step")
    action.version = record.get("version")
    if isinstance(action, EntityAction):
        action.account = record.get("account")
        action.lead = record.get("lead")
    return action


def snapshot_header(
    program: Program,
    state: EngineState,
    journal_seq: int,
    outbox: Sequence[Action] = (),
    failed: Sequence[Action] = (),
    held: Sequence[Event] = (),
) -> dict[str, Any]:
    """Everything but the contacts: clock, counters, dedupe window, pending outputs,
    the events the reorder buffer holds (admitted and journaled, not yet applied), and
    the program's tables (what positions in contact records mean)."""
    return {
        "format": FORMAT_VERSION,
        "engage": __version__,
        "clock": state.now if state.started else None,
        "position": state.position,
        "log_seq": journal_seq,
        "stats": state.stats.to_dict(),
        "dedupe_capacity": state.dedupe.capacity,
        "dedupe": state.dedupe.ids(),
        "deleted_history": state.deleted_history,
        HISTORY_HEADER: state.history.to_header(),
        "failed": [action_record(a) for a in failed],
        "outbox": [action_record(a) for a in outbox],
        "problems": [p.to_dict() for p in state.problems[-1000:]],
        "rules_digest": rules_digest(program),
        # The rules text, so that tools working on a state folder alone (engage track)
        # can run the rules that wrote it.
        "rules_sources": dict(program.sources),
        "tables": program_tables(program),
        "held": [event_record(e) for e in held],
        "flow_versions": state.flow_versions,
        # Accounts and leads (what is not derived from the contacts), by name.
        "entities": None if program.b2b is None else program.b2b.store.to_data(),
    }


def snapshot_data(program: Program, state: EngineState, journal_seq: int) -> SnapshotData:
    """The state as snapshot data without a file (for reloads). The records share the
    contacts' field lists and extra dicts: the contacts are dropped afterwards."""
    header = snapshot_header(program, state, journal_seq)
    contacts = [to_record(c) for c in state.contacts.values()]
    header["contact_count"] = len(contacts)
    return SnapshotData(header, contacts)


def event_record(event: Event) -> dict[str, Any]:
    """An admitted event as plain data (held events in snapshots)."""
    return {
        envelope_key(event.type): event.contact,
        "type": event.type,
        "at": event.at,
        "id": event.id,
        "data": event.data,
    }


def held_events(header: dict[str, Any]) -> list[Event]:
    """The events a snapshot's reorder buffer held, in release order."""
    return [
        Event(r[envelope_key(r["type"])], r["type"], float(r["at"]), r["id"], r["data"])
        for r in header.get("held", ())
    ]


def pending_actions(header: dict[str, Any]) -> tuple[list[Action], list[Action]]:
    """The outbox and the failed actions a snapshot kept."""
    return (
        [action_from_record(r) for r in header.get("outbox", ())],
        [action_from_record(r) for r in header.get("failed", ())],
    )


@attrs.frozen
class Installed:
    """What :func:`install` did: the report, whether the program was the one that wrote
    the records (then derived structures need no recomputation), and the journal
    sequence number the state covers."""

    report: ReloadReport
    same_program: bool
    journal_seq: int


def install(program: Program, state: EngineState, data: SnapshotData) -> Installed:
    """Load snapshot data into a fresh state running ``program`` (same or different
    rules than those that wrote it). Derived structures are the engine's to rebuild."""
    header = data.header
    report = ReloadReport()
    try:
        _install_counters(state, header)
        old_tables = _with_current_signatures(header["tables"], program)
        new_tables = program_tables(program)
        same = _same_tables(old_tables, new_tables)
        contacts = state.contacts
        if same:
            for index, ref in enumerate(old_tables["decay_refs"]):
                decay = program.scores[index].decay
                if decay is not None and ref is not None:
                    decay.ref = ref
            list_fields = [i for i, spec in enumerate(program.fields) if spec.type == "list"]
            for record in data.contacts:
                contacts[record[0]] = from_record(record, list_fields)
        else:
            mapper = _Mapper(program, state.clock_or_zero(), old_tables, report)
            for record in data.contacts:
                contact = mapper.contact(record)
                contacts[contact.id] = contact
        if program.b2b is not None:
            # Accounts' and leads' own state; their roll-ups are rebuilt by the engine.
            program.b2b.store.load(header.get("entities"))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise SnapshotError(f"snapshot state does not fit these rules: {exc!r}") from None
    return Installed(report, same, int(header.get("log_seq", 0)))


def _with_current_signatures(tables: dict[str, Any], program: Program) -> dict[str, Any]:
    """The tables with event-window signatures of older snapshots (``repr()`` of syntax
    trees) replaced by the canonical signatures of the same windows in ``program``."""
    current = {atom.legacy_signature: atom.signature for atom in program.history_atoms}
    atoms = [current.get(signature, signature) for signature in tables.get("atoms", ())]
    return {**tables, "atoms": atoms}


def _same_tables(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("scores", "fields", "segments", "truth_bits", "rules", "atoms")
    return all(_plain(old.get(k)) == _plain(new.get(k)) for k in keys)


def _plain(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _install_counters(state: EngineState, header: dict[str, Any]) -> None:
    clock = header.get("clock")
    state.now = -math.inf if clock is None else float(clock)
    state.position = int(header.get("position", 0))
    state.stats.load(header.get("stats", {}))
    state.dedupe.load(header.get("dedupe", ()))
    state.deleted_history = dict(header.get("deleted_history", {}))
    state.history.load(header.get(HISTORY_HEADER))
    for record in header.get("problems", ()):
        state.problems.append(
            Problem(
                record["kind"],
                record["contact"],
                0.0,
                f"(before restore, at {record['at']}) {record['message']}",
                tuple(record.get("rules", ())),
            )
        )


def rule_predecessors(
    old_rules: Sequence[Sequence[Any]], new_rules: Sequence[Any]
) -> dict[str, str]:
    """For each new rule that existed before: new name -> old name.

    A named rule is itself by name. An anonymous rule is named after its line
    (``FILE:LINE``), so a line added above renames it; it is identified by its text
    instead, in the same file, identical twins paired in line order, so that its
    per-contact state (truth, ``once``, re-arm, cooldown) follows it and a reload does
    not fire a ``once`` rule again. An anonymous rule edited in place, whose text
    matches nothing, falls back to its name (a changed rule). Snapshots written before
    rules carried their text identify every rule by name.
    """
    old_names = {entry[0] for entry in old_rules}
    by_text: dict[tuple[str, str], list[str]] = {}
    for entry in old_rules:
        content = entry[3] if len(entry) > 3 else ""
        if content:
            by_text.setdefault((entry[0].rpartition(":")[0], content), []).append(entry[0])
    found: dict[str, str] = {}
    for rule in new_rules:
        twins = by_text.get((rule.name.rpartition(":")[0], rule.content)) if rule.content else None
        if twins:
            found[rule.name] = twins.pop(0)
    taken = set(found.values())
    for rule in new_rules:
        if rule.name not in found and rule.name in old_names and rule.name not in taken:
            found[rule.name] = rule.name
            taken.add(rule.name)
    return found


class _Mapper:
    """Maps contact records written under one program to another, by name."""

    def __init__(
        self, program: Program, now: float, old: dict[str, Any], report: ReloadReport
    ) -> None:
        self.program = program
        self.now = now
        self.report = report
        self.old_scores = [(name, half_life) for name, half_life in old["scores"]]
        self.old_refs = list(old["decay_refs"])
        # A fresh program's decay references start at 0: scaling a value held at an
        # epoch-sized clock against it overflows. Nothing is stored under them yet.
        for spec in program.scores:
            if spec.decay is not None and spec.decay.needs_rebase(now):
                spec.decay.ref = now
        self.old_fields = [(name, type_) for name, type_ in old["fields"]]
        self.old_bits = list(old["truth_bits"])
        old_rules = {entry[0]: (entry[1], entry[2]) for entry in old["rules"]}
        predecessors = rule_predecessors(old["rules"], program.rules)
        #: Old rule name -> new name, for anonymous rules whose lines moved.
        self.renamed = {old: new for new, old in predecessors.items() if old != new}
        report.moved_rules = sorted(self.renamed.items())
        #: Old names of the rules whose per-contact state carries over, with new names.
        self.kept_rules: dict[str, str] = {}
        for rule in program.rules:
            old_name = predecessors.get(rule.name)
            if old_name is None:
                report.new_rules.append(rule.name)
            elif old_rules[old_name] != (rule.kind, rule.cond_text):
                report.changed_rules.append(rule.name)
            else:
                self.kept_rules[old_name] = rule.name
        report.removed_rules = sorted(set(old_rules) - set(predecessors.values()))
        report.removed_scores = [n for n, _ in self.old_scores if n not in program.score_by_name]
        report.removed_fields = [n for n, _ in self.old_fields if n not in program.field_by_name]
        report.retyped_fields = [
            n
            for n, t in self.old_fields
            if n in program.field_by_name and program.field_by_name[n].type != t
        ]
        self.atom_ids = {
            old_id: atom.id
            for old_id, signature in enumerate(old["atoms"])
            for atom in program.history_atoms
            if atom.signature == signature
        }
        self.line_ids = {line.id for plan in program.plans.values() for line in plan.lines}

    def contact(self, record: list[Any]) -> Contact:
        named = dict(zip(RECORD_FIELDS, record, strict=False))  # older records: no flows
        cid, scores, fields, extra = named["id"], named["scores"], named["fields"], named["extra"]
        tags, groups, status = named["tags"], named["groups"], named["status"]
        created, last, truth = named["created"], named["last_activity"], named["truth"]
        program = self.program
        contact = Contact(cid, created, len(program.scores))
        for old_index, (name, half_life) in enumerate(self.old_scores):
            spec = program.score_by_name.get(name)
            stored = scores[old_index]
            if spec is None or stored is None:
                continue
            value = stored
            if half_life is not None:
                value = stored * math.exp2((self.old_refs[old_index] - self.now) / half_life)
            if spec.decay is not None:
                value = spec.decay.scale(value, self.now)
            put_score(contact, spec.index, value)
        if fields is not None:
            for old_index, (name, _) in enumerate(self.old_fields):
                field_spec = program.field_by_name.get(name)
                value = fields[old_index]
                if field_spec is None or value is None:
                    continue
                try:
                    value = field_value(field_spec.type, name, value)
                except EventError:
                    self.report.dropped_values += 1
                    continue
                if contact.fields is None:
                    contact.fields = [None] * len(program.fields)
                contact.fields[field_spec.index] = value
        contact.tags = tag_collection(tags)
        contact.groups = tuple(groups)
        contact.status = status
        contact.last_activity = last
        for bit, name in enumerate(self.old_bits):
            if truth >> bit & 1 and name in self.kept_rules:
                contact.truth |= program.rule_by_name[self.kept_rules[name]].bit
        contact.extra = self._extra(extra)
        contact.flows = record_flows(record)  # by flow name: survives any remap
        return contact

    def _extra(self, extra: dict[str, Any] | None) -> dict[str, Any] | None:
        if not extra:
            return None
        rules = self.program.rule_by_name
        renamed = self.renamed
        extra = dict(extra)
        for key in (ONCE_FIRED, DISARMED):
            if key in extra:
                names = (renamed.get(name, name) for name in extra[key])
                kept = [name for name in names if name in rules]
                if kept:
                    extra[key] = kept
                else:
                    del extra[key]
        if LAST_FIRED in extra:
            moved = ((renamed.get(k, k), v) for k, v in extra[LAST_FIRED].items())
            extra[LAST_FIRED] = {k: v for k, v in moved if k in rules}
        if WINDOWS in extra:
            extra[WINDOWS] = {
                self.atom_ids[old]: times
                for old, times in extra[WINDOWS].items()
                if int(old) in self.atom_ids
            }
        if LINE_STATE in extra:
            extra[LINE_STATE] = {k: v for k, v in extra[LINE_STATE].items() if k in self.line_ids}
        return {k: v for k, v in extra.items() if v not in (None, {}, [])} or None

"""What a rules change would change: the same events through two rule sets, compared.

``engage diff OLD.rules NEW.rules --events PATH`` replays the events (in time order,
as ``engage run`` does) through two engines side by side, a batch at a time, and
reports:

- firings per rule before and after (a rule present on one side only is marked added
  or removed);
- the contacts affected: those whose actions differ (in time, verb, arguments, rule,
  anything written in an action) or whose final state differs;
- for the first few affected contacts, the first differing action on each side.

Anonymous rules are named ``FILE:LINE``, and the two versions are usually two files:
an anonymous rule is therefore matched by its text (blanks collapsed; identical twins
in line order), then, if its text changed, by its line, and its actions are compared
under one name. A named rule is itself by name, so renaming one shows as a rule removed
and a rule added.

Cost: two replays (the events are read and sorted once), and per batch a grouping of
the actions by contact. Memory: the two engines, the set of affected contact ids, and
the differences kept for display; the actions themselves are not kept.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs

from engage.engine import Engine
from engage.firings import FiringTracker
from engage.io.ordering import Placed
from engage.io.readers import BadRecord
from engage.rules import Rules

#: Records given to both engines at a time.
BATCH: Final = 4096

#: Actions kept per side for a contact whose first difference is shown.
KEPT_ACTIONS: Final = 64

#: Affected contacts listed by id (the count is always exact).
LISTED_CONTACTS: Final = 1000

_ANONYMOUS = re.compile(r"^(.*):(\d+)$")


@attrs.define
class RuleRow:
    """One rule's firings (actions written under its name) before and after."""

    rule: str
    before: int | None  # None: no such rule before
    after: int | None  # None: no such rule after
    old_name: str | None = None  # an anonymous rule's name before, when it moved

    @property
    def status(self) -> str:
        """``added``, ``removed``, ``changed`` (another count) or ``same``."""
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "same" if self.before == self.after else "changed"


@attrs.define
class Difference:
    """The first difference for one contact: an action on each side (None: nothing
    there), or, when the actions agree, the parts of the final state that differ."""

    contact: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    state: dict[str, tuple[Any, Any]] = attrs.Factory(dict)

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"contact": self.contact}
        if self.state:
            record["state"] = {
                key: {"before": old, "after": new} for key, (old, new) in self.state.items()
            }
        else:
            record["before"] = self.before
            record["after"] = self.after
        return record


@attrs.define
class DiffReport:
    """Everything ``engage diff`` shows; :meth:`to_dict` is its ``--json`` form."""

    records: int = 0
    bad_before: int = 0
    bad_after: int = 0
    actions_before: int = 0
    actions_after: int = 0
    contacts_before: int = 0
    contacts_after: int = 0
    rules: list[RuleRow] = attrs.Factory(list)
    affected: int = 0
    affected_ids: list[str] = attrs.Factory(list)
    actions_differ: int = 0
    state_differs: int = 0
    differences: list[Difference] = attrs.Factory(list)

    @property
    def changed(self) -> bool:
        return bool(self.affected) or any(row.status != "same" for row in self.rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "bad": {"before": self.bad_before, "after": self.bad_after},
            "actions": {"before": self.actions_before, "after": self.actions_after},
            "contacts": {"before": self.contacts_before, "after": self.contacts_after},
            "rules": [
                {
                    "rule": row.rule,
                    "before": row.before,
                    "after": row.after,
                    "status": row.status,
                    **({"old_name": row.old_name} if row.old_name else {}),
                }
                for row in self.rules
            ],
            "affected": {
                "count": self.affected,
                "actions_differ": self.actions_differ,
                "state_differs": self.state_differs,
                "contacts": self.affected_ids,
            },
            "differences": [difference.to_dict() for difference in self.differences],
        }


def _is_anonymous(rule: Any) -> bool:
    return bool(rule.content) and _ANONYMOUS.match(rule.name) is not None


def pair_rules(old: Rules, new: Rules) -> dict[str, str]:
    """Old rule name -> new name, for the old rules that exist in the new rules.

    Named rules pair by name; anonymous rules by text (in file order), then the rest
    by line number. Costs O(rules).
    """
    old_rules = old.program_for_engine().rules
    new_rules = new.program_for_engine().rules
    new_names = {rule.name for rule in new_rules}
    pairs = {rule.name: rule.name for rule in old_rules if rule.name in new_names}
    by_text: dict[str, list[str]] = defaultdict(list)
    by_line: dict[str, list[str]] = defaultdict(list)
    for rule in old_rules:
        if _is_anonymous(rule) and rule.name not in pairs:
            by_text[rule.content].append(rule.name)
    unpaired_new = []
    taken = set(pairs.values())
    for rule in new_rules:
        if not _is_anonymous(rule) or rule.name in taken:
            continue
        twins = by_text.get(rule.content)
        if twins:
            pairs[twins.pop(0)] = rule.name
        else:
            unpaired_new.append(rule)
    for names in by_text.values():
        for name in names:
            by_line[name.rpartition(":")[2]].append(name)
    for rule in unpaired_new:
        candidates = by_line.get(rule.name.rpartition(":")[2])
        if candidates:
            pairs[candidates.pop(0)] = rule.name
    return pairs


class _Comparer:
    """Compares, batch by batch, the actions each contact got on the two sides.

    Both engines have applied the same records when a batch ends, and every earlier
    batch agreed for a contact not yet affected, so this batch's actions hold the
    point where the two sides part. From there, for the contacts whose differences are
    shown, the actions of each side are kept (at most :data:`KEPT_ACTIONS`) and the
    first difference is the first action of each side that the other side lacks:
    a notification that moved from January 2 to January 3 shows as exactly that.
    """

    def __init__(self, renamed: dict[str, str], shown: int) -> None:
        self.renamed = renamed
        self.shown = shown
        self.affected: set[str] = set()
        self.order: list[str] = []
        self.before: Counter[str] = Counter()
        self.after: Counter[str] = Counter()
        #: Contact -> the actions of each side since they parted, for shown contacts.
        self._kept: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}

    def compare(self, old_actions: list[Any], new_actions: list[Any]) -> None:
        renamed = self.renamed
        old_by_contact: dict[str, list[dict[str, Any]]] = defaultdict(list)
        new_by_contact: dict[str, list[dict[str, Any]]] = defaultdict(list)
        _group(old_actions, renamed, self.before, old_by_contact)
        _group(new_actions, {}, self.after, new_by_contact)
        # In order of first action (before, then after): the same on every run.
        contacts = [*old_by_contact, *(c for c in new_by_contact if c not in old_by_contact)]
        kept = self._kept
        for contact in contacts:
            olds = old_by_contact.get(contact, [])
            news = new_by_contact.get(contact, [])
            if contact in kept:
                kept_olds, kept_news = kept[contact]
                kept_olds.extend(olds[: KEPT_ACTIONS - len(kept_olds)])
                kept_news.extend(news[: KEPT_ACTIONS - len(kept_news)])
                continue
            if contact in self.affected or olds == news:
                continue
            self.affect(contact)
            if len(kept) < self.shown:
                same = next(
                    (i for i, (a, b) in enumerate(zip(olds, news, strict=False)) if a != b),
                    min(len(olds), len(news)),
                )
                kept[contact] = (olds[same:][:KEPT_ACTIONS], news[same:][:KEPT_ACTIONS])

    def affect(self, contact: str) -> None:
        """Count a contact as affected (listed while the list is short)."""
        self.affected.add(contact)
        if len(self.order) < LISTED_CONTACTS:
            self.order.append(contact)

    def action_differences(self) -> list[Difference]:
        """The first action each side has that the other lacks, per shown contact."""
        found = []
        for contact, (olds, news) in self._kept.items():
            before = _first_missing(olds, news)
            after = _first_missing(news, olds)
            if before is None and after is None:  # the same actions in another order
                before, after = olds[0] if olds else None, news[0] if news else None
            found.append(Difference(contact, before, after))
        return found


def _first_missing(
    actions: list[dict[str, Any]], others: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The first of ``actions`` not matched by one of ``others`` (each used once)."""
    unused = list(others)
    for action in actions:
        if action in unused:
            unused.remove(action)
        else:
            return action
    return None


def _group(
    actions: list[Any],
    renamed: dict[str, str],
    firings: Counter[str],
    by_contact: dict[str, list[dict[str, Any]]],
) -> None:
    """Group actions by contact (rule names made comparable) and count firings.

    One firing writes its actions one after another, with the same contact, rule, time
    and event: a firing is counted at the first of them.
    """
    tracker = FiringTracker()
    for action in actions:
        record = action.to_dict()
        rule = record["rule"] = renamed.get(record["rule"], record["rule"])
        if tracker.starts(action, rule):
            firings[rule] += 1
        by_contact[str(action.contact)].append(record)


def _state_pairs(
    old: Iterator[dict[str, Any]], new: Iterator[dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
    """Merge two dumps in contact-id order: (id, state before, state after)."""
    a = next(old, None)
    b = next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a["contact"] < b["contact"]):
            assert a is not None
            yield a["contact"], a, None
            a = next(old, None)
        elif a is None or b["contact"] < a["contact"]:
            yield b["contact"], None, b
            b = next(new, None)
        else:
            yield a["contact"], a, b
            a = next(old, None)
            b = next(new, None)


def _state_difference(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    if old is None or new is None:
        return {"contact": ("exists" if old else None, "exists" if new else None)}
    return {
        key: (old.get(key), new.get(key))
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    }


def diff(
    old: Rules,
    new: Rules,
    placed: Iterable[Placed],
    *,
    until: float | None = None,
    shown: int = 5,
) -> DiffReport:
    """Replay ``placed`` records through ``old`` and ``new`` rules and compare.

    ``until`` moves both clocks there after the last record (timers due by then fire).
    ``shown`` is how many affected contacts get their first difference. Costs two
    replays plus a final walk over both states in contact-id order.
    """
    pairs = pair_rules(old, new)
    renamed = {old_name: name for old_name, name in pairs.items() if old_name != name}
    before_engine = Engine(old)
    after_engine = Engine(new)
    comparer = _Comparer(renamed, shown)
    report = DiffReport()

    def apply(batch: list[Any]) -> None:
        copies = [dict(record) if isinstance(record, dict) else record for record in batch]
        old_actions = before_engine.ingest_many(batch)
        new_actions = after_engine.ingest_many(copies)
        report.actions_before += len(old_actions)
        report.actions_after += len(new_actions)
        comparer.compare(old_actions, new_actions)
        for engine in (before_engine, after_engine):
            engine.drain_outbox()
        report.bad_before += len(before_engine.rejected)
        report.bad_after += len(after_engine.rejected)
        del before_engine.rejected[:]
        del after_engine.rejected[:]

    batch: list[Any] = []
    for _, _, record in placed:
        report.records += 1
        if record.__class__ is BadRecord:
            report.bad_before += 1
            report.bad_after += 1
            continue
        batch.append(record)
        if len(batch) >= BATCH:
            apply(batch)
            batch = []
    if batch:
        apply(batch)
    if until is not None:
        old_actions = before_engine.advance(until)
        new_actions = after_engine.advance(until)
        report.actions_before += len(old_actions)
        report.actions_after += len(new_actions)
        comparer.compare(old_actions, new_actions)

    report.actions_differ = len(comparer.affected)
    report.differences = comparer.action_differences()
    state_differences: list[Difference] = []
    for contact, state_before, state_after in _state_pairs(
        before_engine.dump(), after_engine.dump()
    ):
        report.contacts_before += state_before is not None
        report.contacts_after += state_after is not None
        if state_before == state_after:
            continue
        report.state_differs += 1
        if contact in comparer.affected:
            continue
        comparer.affect(contact)
        if len(state_differences) + len(report.differences) < shown:
            state = _state_difference(state_before, state_after)
            state_differences.append(Difference(contact, state=state))
    report.affected = len(comparer.affected)
    report.affected_ids = comparer.order
    report.differences.extend(state_differences)
    report.rules = _rule_rows(old, new, pairs, comparer.before, comparer.after)
    return report


def _rule_rows(
    old: Rules,
    new: Rules,
    pairs: dict[str, str],
    before: Counter[str],
    after: Counter[str],
) -> list[RuleRow]:
    """The per-rule table: the new rules in their order, then the removed ones, then
    other names that wrote actions (flow steps); changed rows first."""
    new_names = [rule.name for rule in new.program_for_engine().rules]
    old_of = {name: old_name for old_name, name in pairs.items()}
    rows = [
        RuleRow(
            name,
            before[name] if name in old_of else None,
            after[name],
            old_of[name] if old_of.get(name, name) != name else None,
        )
        for name in new_names
    ]
    rows.extend(
        RuleRow(rule.name, before[rule.name], None)
        for rule in old.program_for_engine().rules
        if rule.name not in pairs
    )
    known = set(new_names) | {rule.name for rule in old.program_for_engine().rules}
    rows.extend(
        RuleRow(name, before[name], after[name])
        for name in sorted((before.keys() | after.keys()) - known)
    )
    rank = {"changed": 0, "added": 1, "removed": 2, "same": 3}
    return sorted(rows, key=lambda row: rank[row.status])


def render(report: DiffReport, old_name: str, new_name: str, listed: int = 20) -> str:
    """The report as text for a terminal."""
    lines = [
        f"engage diff: {old_name} -> {new_name}, {report.records:,} records "
        f"(bad: {report.bad_before:,} before, {report.bad_after:,} after)",
        "",
    ]
    width = max([len("rule"), *(len(_label(row)) for row in report.rules)])
    lines.append(f"{'rule':<{width}}  {'before':>8}  {'after':>8}  change")
    for row in report.rules:
        before = "-" if row.before is None else f"{row.before:,}"
        after = "-" if row.after is None else f"{row.after:,}"
        if row.status in ("added", "removed"):
            change = row.status
        elif row.status == "changed":
            change = f"{(row.after or 0) - (row.before or 0):+,}"
        else:
            change = ""
        lines.append(f"{_label(row):<{width}}  {before:>8}  {after:>8}  {change}".rstrip())
    lines.append("")
    lines.append(
        f"actions: {report.actions_before:,} before, {report.actions_after:,} after; "
        f"contacts: {report.contacts_before:,} before, {report.contacts_after:,} after"
    )
    if not report.affected:
        lines.append("contacts affected: none (the same actions and final state for every one)")
        return "\n".join(lines) + "\n"
    ids = report.affected_ids[:listed]
    more = report.affected - len(ids)
    lines.append(
        f"contacts affected: {report.affected:,} ({report.actions_differ:,} with other "
        f"actions, {report.state_differs:,} with another final state): "
        + ", ".join(ids)
        + (f" and {more:,} more" if more > 0 else "")
    )
    if report.differences:
        lines.append("")
        lines.append("first differences:")
    for difference in report.differences:
        lines.append(f"  {difference.contact}")
        if difference.state:
            for key, (old, new) in difference.state.items():
                lines.append(f"    {key}: {old!r} -> {new!r}")
            continue
        lines.append(f"    before: {_action_text(difference.before)}")
        lines.append(f"    after:  {_action_text(difference.after)}")
    return "\n".join(lines) + "\n"


def _label(row: RuleRow) -> str:
    """The rule's name; an anonymous rule that moved to another line says where from."""
    if row.old_name and row.old_name.rpartition(":")[2] != row.rule.rpartition(":")[2]:
        return f"{row.rule} (was {row.old_name})"
    return row.rule


def _action_text(action: dict[str, Any] | None) -> str:
    if action is None:
        return "(no action)"
    args = " ".join(repr(arg) if not isinstance(arg, str) else arg for arg in action["args"])
    extra = "".join(
        f" [{key} {action[key]}]"
        for key in ("suppressed", "skipped", "held_until", "status")
        if key in action
    )
    return f"{action['at']}  {action['rule']}: {action['action']} {args}".rstrip() + extra

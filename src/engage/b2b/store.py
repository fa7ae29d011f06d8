"""Accounts and leads: their state, kept from contacts' deltas and their own records.

An :class:`EntityStore` belongs to one engine (a program that declares accounts or
leads is compiled per engine, and the generated readers of ``account.X`` look here).

- **Accounts** hold their fields (``account.updated``), one :class:`~engage.b2b.rollup.Aggregate`
  per roll-up, their member count and their rules' truth bits. Roll-ups change only
  through :meth:`EntityStore.apply_member` (a contact's delta), in O(1) or O(log n).
- **Leads** (``lead.created`` / ``lead.updated`` / ``lead.closed``) hold their primary
  contact and/or account, fields, scores (scaled when they decay), score-line caps, the
  moment they were qualified (sticky) and their rules' bits. A contact's event scores
  the open leads whose contact it is, and the account-only leads of its account:
  O(1) look-ups through two indexes, then the lead's lines for the event type.

What is derived (the aggregates, the two lead indexes) is rebuilt from the contacts
and the leads after a restore or a reload; :meth:`to_data` keeps only the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from engage.actions import Action, Computed, EntityAction
from engage.b2b.members import MemberDelta, account_of, membership
from engage.b2b.rollup import Aggregate
from engage.b2b.spec import B2BProgram, EntityRuleSpec, LeadLine, LeadScoreSpec, RollupSpec
from engage.errors import EventError
from engage.state.contact import Contact
from engage.timeutil import format_time


class AccountState:
    """One account: fields, aggregates (one per roll-up), members, rule bits."""

    __slots__ = ("aggs", "fields", "fired", "id", "members", "truth")

    def __init__(self, account_id: str, rollups: Iterable[RollupSpec]) -> None:
        self.id = account_id
        self.fields: dict[str, Any] = {}
        self.aggs = [Aggregate(r.kind) for r in rollups]
        self.members = 0
        self.truth = 0
        self.fired = 0


class LeadState:
    """One lead: its primary contact and/or account, fields, scores, caps, status."""

    __slots__ = (
        "account",
        "caps",
        "closed",
        "contact",
        "created",
        "fields",
        "fired",
        "id",
        "qualified",
        "scores",
        "truth",
    )

    def __init__(self, lead_id: str, created: float, score_count: int) -> None:
        self.id = lead_id
        self.contact: str | None = None
        self.account: str | None = None
        self.fields: dict[str, Any] = {}
        self.scores: list[Any] = [None] * score_count
        #: Per score line id: [points so far, [[time, points], ...] in its window, once].
        self.caps: dict[str, list[Any]] = {}
        self.qualified: float | None = None
        self.closed = False
        self.created = created
        self.truth = 0
        self.fired = 0

    @property
    def scorable(self) -> bool:
        """A lead with neither a contact nor an account cannot be scored (Dynamics)."""
        return self.contact is not None or self.account is not None


class EntityStore:
    """Every account and lead of one engine."""

    def __init__(self, program: B2BProgram) -> None:
        self.program = program
        self.accounts: dict[str, AccountState] = {}
        self.leads: dict[str, LeadState] = {}
        #: Open and closed leads by primary contact; account-only leads by account.
        self.leads_by_contact: dict[str, set[str]] = {}
        self.leads_by_account: dict[str, set[str]] = {}
        self._rollups = {r.name: r for r in program.rollups}
        self._lead_scores = {s.name: s for s in program.lead_scores}
        #: The clock may move inside this range without a lead score rebase.
        self._rebase_before = self._rebase_after = 0.0

    def clear(self) -> None:
        self.accounts.clear()
        self.leads.clear()
        self.leads_by_contact.clear()
        self.leads_by_account.clear()

    # -- reads (generated code calls these) -------------------------------------------

    def contact_reads(self, contact: Contact, entity: str, name: str, now: float) -> Any:
        """``account.NAME`` in a contact's condition: its account's value (None when it
        has no account). One dict look-up and the read."""
        if entity != "account":
            return None
        account_id = account_of(contact)
        account = None if account_id is None else self.accounts.get(account_id)
        return None if account is None else self.read(account, name, now)

    def read(self, state: AccountState | LeadState, name: str, now: float) -> Any:
        """A field or score of an account or a lead at ``now`` (None: empty)."""
        if state.__class__ is AccountState:
            rollup = self._rollups.get(name)
            if rollup is not None:
                return state.aggs[rollup.index].read(rollup.decay, now)
            return state.fields.get(name)
        score = self._lead_scores.get(name)
        if score is not None:
            value = state.scores[score.index]  # type: ignore[union-attr]
            return value if value is None or score.decay is None else score.decay.read(value, now)
        return state.fields.get(name)

    def account_values(self, account: AccountState, now: float) -> dict[str, Any]:
        """Every roll-up of an account at ``now``, by name."""
        return {r.name: account.aggs[r.index].read(r.decay, now) for r in self.program.rollups}

    def lead_scores(self, lead: LeadState, now: float) -> dict[str, Any]:
        return {s.name: self.read(lead, s.name, now) for s in self.program.lead_scores}

    # -- accounts -----------------------------------------------------------------------

    def account(self, account_id: str) -> AccountState:
        found = self.accounts.get(account_id)
        if found is None:
            found = self.accounts[account_id] = AccountState(account_id, self.program.rollups)
        return found

    def apply_member(self, delta: MemberDelta) -> list[str]:
        """Move a contact's contributions as its delta says; returns the accounts whose
        state changed (see :meth:`move`)."""
        (old, new), (old_values, new_values) = delta.account, delta.values
        return self.move(
            delta.contact,
            None if old is None else (old, *old_values),
            None if new is None else (new, *new_values),
        )

    def move(
        self, contact: str, before: tuple[Any, ...] | None, after: tuple[Any, ...] | None
    ) -> list[str]:
        """Move a contact's contributions from ``before`` to ``after`` (each ``(account,
        value, ...)`` or None); returns the accounts whose state changed.

        O(roll-ups), each O(1) (sum, count, avg) or O(log n) (max, min); within one
        account only the roll-ups whose contribution changed are touched.
        """
        old = None if before is None else before[0]
        new = None if after is None else after[0]
        if old is not None and old == new:
            assert before is not None and after is not None
            aggs = self.accounts[old].aggs
            for index in range(1, len(before)):
                was, now = before[index], after[index]
                if was != now or was.__class__ is not now.__class__:
                    aggs[index - 1].shift(contact, was, now)
            return [old]
        touched: list[str] = []
        if before is not None and old is not None:
            account = self.account(old)
            for aggregate, value in zip(account.aggs, before[1:], strict=True):
                aggregate.remove(contact, value)
            account.members -= 1
            touched.append(old)
        if after is not None and new is not None:
            account = self.account(new)
            for aggregate, value in zip(account.aggs, after[1:], strict=True):
                aggregate.add(contact, value)
            account.members += 1
            touched.append(new)
        return touched

    def update_account(self, account_id: str, data: Mapping[str, Any] | None) -> bool:
        """``account.updated``: set the fields in ``data`` (validated first, so a bad
        record changes nothing). Returns whether a value changed.

        Raises:
            EventError: a value does not fit its declared field.
        """
        values = _fields(self.program.account_fields, data, "account")
        account = self.account(account_id)
        changed = False
        for name, value in values.items():
            if account.fields.get(name) != value:
                changed = True
                if value is None:
                    account.fields.pop(name, None)
                else:
                    account.fields[name] = value
        return changed

    def rescale(self, score_index: int, factor: float) -> None:
        """The engine rebased a decaying contact score: rescale its roll-ups."""
        for rollup in self.program.rollups:
            if rollup.score == score_index and rollup.decay is not None:
                for account in self.accounts.values():
                    account.aggs[rollup.index].rescale(factor)

    def rebuild(self, contacts: Iterable[Contact], now: float) -> None:
        """Every aggregate and member count again from the contacts (after a restore or
        a reload: they are derived). O(n log n)."""
        for account in self.accounts.values():
            account.aggs = [Aggregate(r.kind) for r in self.program.rollups]
            account.members = 0
        for contact in contacts:
            found = membership(self.program, contact, now)
            if found.account is not None:
                self.apply_member(
                    MemberDelta(contact.id, (None, found.account), ((), found.values))
                )
        self.leads_by_contact.clear()
        self.leads_by_account.clear()
        for lead in self.leads.values():
            self._index(lead)

    # -- leads --------------------------------------------------------------------------

    def lead_event(
        self, event_type: str, lead_id: str, data: Mapping[str, Any] | None, now: float
    ) -> LeadState:
        """``lead.created`` / ``lead.updated`` (create or update: primary contact and
        account, fields) and ``lead.closed``. Validated before anything changes.

        Raises:
            EventError: a bad primary contact or account, or a field of the wrong type.
        """
        data = dict(data or {})
        links: dict[str, str | None] = {}
        for key in ("contact", "account"):
            if key in data:
                value = data.pop(key)
                if value is not None and (not isinstance(value, str) or not value):
                    raise EventError(f"lead: '{key}' must be a non-empty text or null")
                links[key] = value
        values = _fields(self.program.lead_fields, data, "lead")
        lead = self.leads.get(lead_id)
        if lead is None:
            lead = self.leads[lead_id] = LeadState(lead_id, now, len(self.program.lead_scores))
        else:
            self._unindex(lead)
        if "contact" in links:
            lead.contact = links["contact"]
        if "account" in links:
            lead.account = links["account"]
        for name, value in values.items():
            if value is None:
                lead.fields.pop(name, None)
            else:
                lead.fields[name] = value
        if event_type == "lead.closed":
            lead.closed = True
        elif event_type == "lead.created":
            lead.closed = False
        self._index(lead)
        return lead

    def _index(self, lead: LeadState) -> None:
        if lead.contact is not None:
            self.leads_by_contact.setdefault(lead.contact, set()).add(lead.id)
        elif lead.account is not None:
            self.leads_by_account.setdefault(lead.account, set()).add(lead.id)

    def _unindex(self, lead: LeadState) -> None:
        for index, key in (
            (self.leads_by_contact, lead.contact),
            (self.leads_by_account, lead.account),
        ):
            if key is not None:
                found = index.get(key)
                if found is not None:
                    found.discard(lead.id)
                    if not found:
                        del index[key]

    def leads_of(self, contact: Contact, account: str | None) -> list[LeadState]:
        """The open leads a contact's event scores: those whose primary contact it is,
        and the account-only leads of its account (``account``); in id order. Two dict
        look-ups when there are none."""
        own = self.leads_by_contact.get(contact.id)
        shared = None if account is None else self.leads_by_account.get(account)
        if own is None and shared is None:
            return []
        ids: set[str] = set(own or ())
        if shared:
            ids.update(shared)
        leads = self.leads
        return [leads[i] for i in sorted(ids) if not leads[i].closed]

    def score_leads(
        self, contact: Contact, account: str | None, event: Any, now: float
    ) -> list[LeadState]:
        """Apply the event type's lead score lines to the leads of a contact (whose
        account is ``account``); returns the leads whose scores changed."""
        lines = self.program.lead_lines.get(event.type)
        if not lines:
            return []
        changed = []
        for lead in self.leads_of(contact, account):
            moved = False
            for line in lines:
                if line.where is not None and not line.where(contact, event, now):
                    continue
                points = _capped(lead, line, now)
                if points:
                    moved = (
                        self._add(lead, self.program.lead_scores[line.score], points, now) or moved
                    )
            if moved:
                changed.append(lead)
        return changed

    def _add(self, lead: LeadState, score: LeadScoreSpec, points: float, now: float) -> bool:
        current = self.read(lead, score.name, now)
        value = min(max((current or 0) + points, score.low), score.high)
        if current is not None and value == current:
            return False
        stored = value if score.decay is None else score.decay.scale(value, now)
        lead.scores[score.index] = stored
        return True

    def move_clock(self, now: float) -> None:
        """Rebase decaying lead scores when the clock ran far (every 500 half-lives):
        one comparison per call, O(leads) when it happens."""
        if self._rebase_before < now < self._rebase_after:
            return
        self._rebase(now)
        refs = [(s.decay.ref, s.decay.half_life) for s in self.program.lead_scores if s.decay]
        self._rebase_before = max((r - 500 * h for r, h in refs), default=-math.inf)
        self._rebase_after = min((r + 500 * h for r, h in refs), default=math.inf)

    def _rebase(self, now: float) -> None:
        for score in self.program.lead_scores:
            decay = score.decay
            if decay is not None and decay.needs_rebase(now):
                factor = decay.rebase_factor(now)
                for lead in self.leads.values():
                    value = lead.scores[score.index]
                    if value is not None:
                        lead.scores[score.index] = value * factor

    # -- rules --------------------------------------------------------------------------

    def evaluate(
        self,
        rules: tuple[EntityRuleSpec, ...],
        state: AccountState | LeadState,
        now: float,
        contact: str,
        event_id: str | None,
    ) -> list[Action]:
        """Fire the rules whose condition turned true for this account or lead (edge;
        ``once`` fires at most once ever); returns their actions in rule order."""
        if isinstance(state, LeadState) and state.closed:
            return []
        out: list[Action] = []
        for rule in rules:
            assert rule.cond is not None
            holds = bool(rule.cond(state, None, now))
            was = state.truth & rule.bit
            if holds and not was:
                state.truth |= rule.bit
                if rule.once and state.fired & rule.bit:
                    continue
                state.fired |= rule.bit
                out.extend(self._actions(rule, state, now, contact, event_id))
            elif not holds and was:
                state.truth &= ~rule.bit
        return out

    def _actions(
        self,
        rule: EntityRuleSpec,
        state: AccountState | LeadState,
        now: float,
        contact: str,
        event_id: str | None,
    ) -> list[Action]:
        out: list[Action] = []
        kind = "lead" if isinstance(state, LeadState) else "account"
        cause = {
            "rule": rule.name,
            kind: state.id,
            "condition": rule.text,
            "summary": f"{rule.text} holds for {kind} {state.id}",
        }
        for spec in rule.actions:
            if spec.static_args is not None:
                args = spec.static_args
            else:
                args = [a.fn(state, None, now) if isinstance(a, Computed) else a for a in spec.args]
            options = spec.options
            if spec.verb == "create_task" and spec.target is not None:
                options = {**(options or {}), "due": format_time(now + spec.target)}
            action = EntityAction(
                now,
                contact,
                rule.name,
                spec.verb,
                args,
                event_id,
                options,
                cause,
                **{kind: state.id},
            )
            if kind == "lead" and spec.verb == "qualify_lead":
                assert isinstance(state, LeadState)
                if state.qualified is None:
                    state.qualified = now
            out.append(action)
        return out

    # -- reports, snapshots, checks -------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Accounts and leads for summaries: leads scored (some score set), unscorable
        (open, with neither contact nor account), qualified, closed."""
        leads = self.leads.values()
        return {
            "accounts": len(self.accounts),
            "leads": len(self.leads),
            "leads_scored": sum(1 for x in leads if any(v is not None for v in x.scores)),
            "leads_unscorable": sum(1 for x in leads if not x.closed and not x.scorable),
            "leads_qualified": sum(1 for x in leads if x.qualified is not None),
            "leads_closed": sum(1 for x in leads if x.closed),
        }

    def to_data(self) -> dict[str, Any]:
        """Plain data of what is not derived (by name, so another program can read it)."""
        account_rules = self.program.account_rules
        lead_rules = self.program.lead_rules
        return {
            "accounts": {
                a.id: [a.fields, _names(account_rules, a.truth), _names(account_rules, a.fired)]
                for a in self.accounts.values()
            },
            "leads": {
                x.id: [
                    x.contact,
                    x.account,
                    x.fields,
                    {s.name: x.scores[s.index] for s in self.program.lead_scores},
                    x.caps,
                    x.qualified,
                    x.closed,
                    x.created,
                    _names(lead_rules, x.truth),
                    _names(lead_rules, x.fired),
                ]
                for x in self.leads.values()
            },
            "lead_refs": {
                s.name: s.decay.ref for s in self.program.lead_scores if s.decay is not None
            },
        }

    def load(self, data: Mapping[str, Any] | None) -> None:
        """The state of :meth:`to_data` (from this program or another: by name). The
        aggregates and indexes are rebuilt afterwards by :meth:`rebuild`."""
        self.clear()
        if not data:
            return
        refs = data.get("lead_refs") or {}
        for score in self.program.lead_scores:
            if score.decay is not None and score.name in refs:
                score.decay.ref = float(refs[score.name])
        self._rebase_before = self._rebase_after = 0.0
        account_rules = self.program.account_rules
        lead_rules = self.program.lead_rules
        for account_id, (fields, truth, fired) in (data.get("accounts") or {}).items():
            account = self.account(account_id)
            account.fields = dict(fields)
            account.truth = _bits(account_rules, truth)
            account.fired = _bits(account_rules, fired)
        for lead_id, record in (data.get("leads") or {}).items():
            contact, account_id, fields, scores, caps, qualified, closed, created, truth, fired = (
                record
            )
            lead = LeadState(lead_id, float(created), len(self.program.lead_scores))
            lead.contact, lead.account, lead.fields = contact, account_id, dict(fields)
            for score in self.program.lead_scores:
                lead.scores[score.index] = scores.get(score.name)
            lead.caps = {k: list(v) for k, v in caps.items()}
            lead.qualified, lead.closed = qualified, bool(closed)
            lead.truth, lead.fired = _bits(lead_rules, truth), _bits(lead_rules, fired)
            self.leads[lead_id] = lead

    def check(self, contacts: Mapping[str, Contact], now: float) -> None:
        """Assert every roll-up equals a naive recomputation over the contacts (the
        test of incremental upkeep; O(n) per roll-up)."""
        expected: dict[str, list[list[Any]]] = {}
        for contact in contacts.values():
            found = membership(self.program, contact, now)
            if found.account is not None:
                expected.setdefault(found.account, []).append(list(found.values))
        for account_id, account in self.accounts.items():
            rows = expected.get(account_id, [])
            assert account.members == len(rows), f"account {account_id!r}: members drifted"
            for rollup in self.program.rollups:
                got = account.aggs[rollup.index].read(rollup.decay, now)
                want = _naive(rollup, [row[rollup.index] for row in rows], now)
                assert _close(got, want), (
                    f"account {account_id!r}: roll-up {rollup.name!r} is {got!r}, naive {want!r}"
                )
        missing = set(expected) - set(self.accounts)
        assert not missing, f"accounts missing: {sorted(missing)!r}"


def _naive(rollup: RollupSpec, values: list[Any], now: float) -> Any:
    if rollup.kind == "count":
        return sum(1 for v in values if v)
    present = [v for v in values if v is not None]
    if not present:
        return None
    decay = rollup.decay
    if rollup.kind in ("max", "min"):
        pick = max(present) if rollup.kind == "max" else min(present)
        return pick if decay is None else decay.read(pick, now)
    read = [v if decay is None else decay.raw(v, now) for v in present]
    total = math.fsum(read)
    return total / len(read) if rollup.kind == "avg" else total


def _close(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)


def _capped(lead: LeadState, line: LeadLine, now: float) -> float:
    """The points of ``line`` this lead may still take now (its caps and ``once``),
    recorded as taken."""
    points = line.points
    record = lead.caps.get(line.id)
    if line.once and record is not None and record[2]:
        return 0
    if points > 0 and (line.cap_total is not None or line.cap_window is not None):
        if record is None:
            record = lead.caps[line.id] = [0.0, [], False]
        if line.cap_total is not None:
            points = min(points, line.cap_total - record[0])
        if line.cap_window is not None and line.cap_limit is not None:
            window = [item for item in record[1] if item[0] > now - line.cap_window]
            record[1] = window
            points = min(points, line.cap_limit - sum(item[1] for item in window))
        if points <= 0:
            return 0
        record[0] += points
        if line.cap_window is not None:
            record[1].append([now, points])
    if line.once:
        if record is None:
            record = lead.caps[line.id] = [0.0, [], False]
        record[2] = True
    return points


def _fields(
    declared: Mapping[str, str], data: Mapping[str, Any] | None, what: str
) -> dict[str, Any]:
    from engage.events import field_value  # noqa: PLC0415 - events imports the program

    values: dict[str, Any] = {}
    for name, value in (data or {}).items():
        if name in declared:
            values[name] = field_value(declared[name], f"{what}.{name}", value)
        else:
            values[name] = tuple(value) if isinstance(value, list) else value
    return values


def _names(rules: tuple[EntityRuleSpec, ...], bits: int) -> list[str]:
    return [rule.name for rule in rules if bits & rule.bit]


def _bits(rules: tuple[EntityRuleSpec, ...], names: Iterable[str]) -> int:
    wanted = set(names)
    return sum(rule.bit for rule in rules if rule.name in wanted)

"""The glue between an engine and its accounts and leads.

The engine calls :meth:`B2BRuntime.reading` before it applies a contact's event (or a
wake-up) and :meth:`B2BRuntime.settle` after: the difference of the two readings is the
contact's :class:`~engage.b2b.members.MemberDelta`, which moves its contributions
between aggregates; then the account rules of the accounts it touched, the lead score
lines of the event and the lead rules of the leads they moved run. Account and lead
records go to :meth:`B2BRuntime.entity_event`.

Cost per contact event: two readings (a dict look-up for the account, then one slot
read or one generated condition per roll-up), a tuple comparison, and for a changed
contribution O(1) or O(log n) per roll-up plus the account rules of the one or two
accounts touched. Engines whose rules declare no accounts or leads never build one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engage.actions import Action
from engage.b2b.members import MemberDelta, reader
from engage.b2b.spec import B2BProgram
from engage.errors import EventError
from engage.events import Event
from engage.state.contact import Contact

#: A contact's account and contributions as one tuple, None without an account.
Reading = tuple[Any, ...] | None


class B2BRuntime:
    """Accounts and leads of one engine, kept from its contacts' changes."""

    def __init__(
        self,
        program: B2BProgram,
        dispatch: Callable[[list[Action]], None],
        reject: Callable[[Event, str], None],
        problem: Callable[[str, str], None] | None = None,
    ) -> None:
        self.program = program
        self.store = program.store
        self._dispatch = dispatch
        self._reject = reject
        self._problem = problem
        self._lead_types = frozenset(program.lead_lines)
        #: The contact's reading: ``(account, value, ...)`` or None (generated).
        self.read = reader(program)
        #: Whether a lead score decays (then the clock's moves may rebase it).
        self.lead_decay = any(score.decay is not None for score in program.lead_scores)
        #: When a list, every delta settled is appended (the per-contact step reads it).
        self.collected: list[MemberDelta] | None = None
        #: False in the per-contact step: accounts and leads are a keyed stage of their
        #: own there, fed by the deltas, so the step only records them.
        self.stage = True

    def reading(self, contact: Contact | None, now: float) -> Reading:
        """The contact's account and contributions (before a change): ``(account,
        value, ...)``, or None without an account."""
        return None if contact is None else self.read(contact, now)

    def settle(
        self,
        contact_id: str,
        before: Reading,
        contact: Contact | None,
        event: Event | None,
        now: float,
        out: list[Action],
    ) -> None:
        """After the contact's event or wake-up: its delta to the accounts, the event's
        lead score lines, and the rules of what moved (actions appended to ``out``).

        An internal error is kept as a problem (``engine.problems``), never raised: the
        stream goes on, as it does for an error in the contact's own rules.
        """
        try:
            self._settle(contact_id, before, contact, event, now, out)
        except Exception as exc:  # an engine bug must not lose the stream
            if self._problem is None:
                raise
            self._problem(contact_id, f"accounts and leads: {type(exc).__name__}: {exc}")

    def _settle(
        self,
        contact_id: str,
        before: Reading,
        contact: Contact | None,
        event: Event | None,
        now: float,
        out: list[Action],
    ) -> None:
        """After the contact's event or wake-up: its delta to the accounts, the event's
        lead score lines, and the rules of what moved (actions appended to ``out``)."""
        after = None if contact is None else self.read(contact, now)
        scored = event is not None and contact is not None and event.type in self._lead_types
        if not scored and before == after:
            return
        program = self.program
        store = self.store
        event_id = None if event is None else event.id
        actions: list[Action] = []
        if before != after:
            if self.collected is not None:
                self.collected.append(
                    MemberDelta(
                        contact_id,
                        (
                            None if before is None else before[0],
                            None if after is None else after[0],
                        ),
                        (() if before is None else before[1:], () if after is None else after[1:]),
                    )
                )
            if not self.stage:
                return
            touched = store.move(contact_id, before, after)
            if program.account_rules:
                accounts = store.accounts
                for account_id in sorted(touched) if len(touched) > 1 else touched:
                    actions.extend(
                        store.evaluate(
                            program.account_rules, accounts[account_id], now, contact_id, event_id
                        )
                    )
        if not self.stage:
            return
        if scored:
            assert contact is not None
            account = None if after is None else after[0]
            for lead in store.score_leads(contact, account, event, now):
                actions.extend(store.evaluate(program.lead_rules, lead, now, contact_id, event_id))
        if actions:
            out.extend(actions)
            self._dispatch(actions)

    def entity_event(self, event: Event, now: float, out: list[Action]) -> None:
        """An ``account.updated`` or ``lead.*`` record (its key is in ``event.contact``).
        A value that does not fit its field rejects the record, changing nothing."""
        store = self.store
        try:
            if event.type == "account.updated":
                store.update_account(event.contact, event.data)
                actions = store.evaluate(
                    self.program.account_rules, store.accounts[event.contact], now, "", event.id
                )
            else:
                lead = store.lead_event(event.type, event.contact, event.data, now)
                actions = store.evaluate(self.program.lead_rules, lead, now, "", event.id)
        except EventError as exc:
            self._reject(event, str(exc))
            return
        except Exception as exc:  # an engine bug must not lose the stream
            if self._problem is None:
                raise
            self._problem(event.contact, f"{event.type}: {type(exc).__name__}: {exc}")
            return
        if actions:
            out.extend(actions)
            self._dispatch(actions)

"""The send gate: decides a moment's sends of one contact (LANGUAGE.md sections 5, 6).

Rule sends (through :class:`~engage.triggers.executor.ActionExecutor`) and flow sends
(through the flow interpreter) come here before any handler sees them. For each send,
in priority order, the gate sets at most one of ``suppressed``, ``skipped`` or
``held_until`` on the action (a stopped send stays in the output stream and reaches no
handler, see ``Action.stopped``), and counts those that go out against the contact's
caps. The checks, in order:

1. suspension, a refusal of every message on the channel, a hard bounce
   (:mod:`~engage.policy.consent`) — every send, transactional ones too;
2. for marketing sends: consent (opt-out, or opt-in under ``require consent``) and
   unsubscribes, then the campaign's qualification (:mod:`~engage.policy.campaigns`);
3. caps (:mod:`~engage.policy.caps`): over one, ``drop`` suppresses, ``hold`` holds the
   send until the window has room;
4. quiet hours (:mod:`~engage.policy.quiet`): hold until they end.

The engine screens a rule's send (checks 1 and 2, :meth:`SendGate.screen`) when the
rule runs, and applies the policy (3 and 4, :meth:`SendGate.apply_policy`) to a
cascade's sends together when it is over; :meth:`SendGate.settle` does both. Held rule
sends are kept in the contact's state (:mod:`~engage.policy.held`); the
engine wakes the contact at :meth:`SendGate.next_release` and calls
:meth:`SendGate.release`, which decides them again (quiet hours, consent and caps are
checked again then). Cost of a send without a policy or campaigns: the checks of step
1 and 2 (a few dict lookups); with a policy, a pass over the contact's recent sends
and, with quiet hours, a local-time conversion.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from engage.actions import Action
from engage.history.conditions import count_contacts, count_contacts_changes_at
from engage.policy import campaigns as campaign_rules
from engage.policy import caps, held
from engage.policy.consent import contact_stop, marketing_stop
from engage.policy.quiet import contact_zone as _contact_zone
from engage.policy.quiet import quiet_until
from engage.policy.specs import CapSpec
from engage.program import Program
from engage.state.contact import Contact

__all__ = ["SendGate", "contact_zone"]


def contact_zone(contact: Contact, program: Program) -> ZoneInfo:
    """The contact's time zone: its ``timezone`` field (declared or undeclared) when it
    names a zone, else the policy's ``timezone``, else UTC."""
    return _contact_zone(contact, program)


class SendGate:
    """Settles sends against consent, unsubscribes, campaigns and the policy.

    Built once per program (the engine builds one with its executor). Holds no state
    of its own: counters and held sends live in each contact's record.
    """

    __slots__ = ("_campaigns", "_category_priority", "_policy", "program")

    def __init__(self, program: Program) -> None:
        self.program = program
        self._campaigns = program.campaigns
        self._policy = program.policy
        policy = program.policy
        self._category_priority = {} if policy is None else policy.category_priority

    @property
    def may_hold(self) -> bool:
        """Whether any send can be held (then contacts need release wake-ups)."""
        return self._policy is not None and self._policy.may_hold

    def priority(self, action: Action) -> int:
        """A send's priority: its campaign's, else its category's (policy), else 0."""
        options = action.options
        if not options:
            return 0
        name = options.get("campaign")
        campaign = None if name is None else self._campaigns.get(name)
        if campaign is not None and campaign.priority is not None:
            return campaign.priority
        category = campaign.category if campaign is not None else options.get("category")
        if category is None:
            return 0
        return self._category_priority.get(category, 0)

    @property
    def has_policy(self) -> bool:
        """Whether the program has a policy (caps, quiet hours, opt-in consent)."""
        return self._policy is not None

    def settle(self, contact: Contact, sends: list[Action], now: float) -> None:
        """Decide a moment's sends of one contact, in priority order (campaign priority,
        else its category's; higher first; ties keep list order): set each action's
        ``suppressed`` / ``skipped`` / ``held_until``, and record those that go out
        against the contact's cap counters. Held rule sends (``action.step`` None) are
        kept in the contact's state for :meth:`release`; a held flow send is the flow's
        to keep. Cost: linear in the sends, each as the module docstring says.

        The same as :meth:`screen` of each send, then :meth:`apply_policy` of those
        that passed (the engine screens a rule's send when the rule runs, against the
        contact as it is then, and applies the policy when the cascade is over)."""
        passed = [action for action in sends if self.screen(contact, action)]
        self.apply_policy(contact, passed, now)

    def screen(self, contact: Contact, action: Action) -> bool:
        """Checks 1 and 2 of the module docstring for one send: set ``suppressed`` or
        ``skipped`` and return False, or return True (transactional sends, and sends
        the policy must still decide). Cost: a few dict lookups."""
        channel = action.action[5:]  # send_email -> email
        stop = contact_stop(contact, channel)
        if stop is not None:
            action.suppressed = stop
            return False
        options = action.options
        if options is None:
            name = category = campaign = None
        else:
            if options.get("transactional"):
                return True
            name = options.get("campaign")
            campaign = None if name is None else self._campaigns.get(name)
            category = campaign.category if campaign is not None else options.get("category")
        policy = self._policy
        opt_in = policy is not None and channel in policy.require_consent
        verdict = marketing_stop(contact, channel, name, category, campaign is not None, opt_in)
        if verdict is not None:
            if verdict[0] == "skipped":
                action.skipped = verdict[1]
            else:
                action.suppressed = verdict[1]
            return False
        if campaign is not None:
            reason = campaign_rules.not_qualified(contact, campaign)
            if reason is not None:
                action.skipped = reason
                return False
        return True

    def apply_policy(self, contact: Contact, sends: list[Action], now: float) -> None:
        """Checks 3 and 4 (caps, quiet hours) for screened sends, in priority order.
        Nothing to do without a policy."""
        policy = self._policy
        if policy is None or not sends:
            return
        if len(sends) > 1 and (self._campaigns or self._category_priority):
            sends = sorted(sends, key=lambda action: -self.priority(action))
        for action in sends:
            options = action.options
            if options is not None and options.get("transactional"):
                continue
            if options is None:
                category = None
            else:
                name = options.get("campaign")
                campaign = None if name is None else self._campaigns.get(name)
                category = campaign.category if campaign is not None else options.get("category")
            self._apply_policy(contact, action, now, action.action[5:], category)

    def next_release(self, contact: Contact) -> float | None:
        """The earliest moment a held rule send of ``contact`` is due, or None."""
        return held.next_release(contact)

    def release(self, contact: Contact, now: float) -> list[Action]:
        """The held rule sends due at ``now``, as new action records at ``now`` (without
        ``held_until`` unless held again), decided again together."""
        due = held.take_due(contact, now)
        if not due:
            return []
        actions = [held.released_action(record, contact.id, now) for record in due]
        self.settle(contact, actions, now)
        return actions

    # -- one send ---------------------------------------------------------------------

    def _over_contact_cap(
        self, contact: Contact, contact_caps: tuple[CapSpec, ...], now: float
    ) -> tuple[CapSpec, float] | None:
        """A ``contacts at most N per D`` cap the contact's history rows already fill
        (rows whose status counts as contact, by contact time), with the moment the
        first of them leaves the window (a held send is decided again then); or None.
        Cost: one pass over the contact's history rows per cap."""
        statuses = self.program.statuses
        counting = () if statuses is None else statuses.counting
        for cap in contact_caps:
            if count_contacts(contact, cap.window, now, counting) >= cap.limit:
                room = count_contacts_changes_at(contact, cap.window, now, counting)
                return cap, now if room is None else room
        return None

    def _apply_policy(
        self,
        contact: Contact,
        action: Action,
        now: float,
        channel: str,
        category: str | None,
    ) -> None:
        policy = self._policy
        assert policy is not None
        moment = now
        if policy.caps:
            over = caps.over_cap(contact, policy, now, channel, category)
            if over is not None:
                cap, room = over
                if not policy.hold:
                    action.suppressed = cap.text
                    return
                moment = room
        if policy.contact_caps:
            over_contacts = self._over_contact_cap(contact, policy.contact_caps, now)
            if over_contacts is not None:
                cap, room = over_contacts
                if not policy.hold:
                    action.suppressed = cap.text
                    return
                moment = max(moment, room)
        if policy.quiet is not None:
            end = quiet_until(self.program, contact, moment)
            if end is not None:
                moment = end
        if moment > now:
            action.held_until = moment
            if action.step is None:
                held.hold(contact, action, moment, self.priority(action))
            return
        if policy.caps:
            caps.record(contact, policy, now, channel, category)

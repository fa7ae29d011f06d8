"""Counts kept while the report watches the action stream: flows and sends.

The report reads only the output stream (the records ``engage run`` writes), so these
ledgers work on any stream of :class:`~engage.actions.Action` in output order, from a
replay or from a host's own log:

- :class:`FlowLedger` counts each flow version's entries, leavings by reason and
  conversions from the flow lifecycle records (``enter_flow``, ``exit_flow``,
  ``flow_goal``, all with ``rule == "flow:NAME"``) and the actions written at each
  step. The version is read from every record, never assumed.
- :class:`SendLedger` gives each send one outcome: sent, suppressed (by reason),
  skipped (by reason) or still held. A held send is written once as held and again, as
  a new record, when it is tried at its release; the ledger pairs the two, so a held
  send is counted once, and what happened at its release is counted beside it.

Both cost O(1) per action (a held send costs one JSON encoding of its arguments, to
pair it with its release) and keep memory in the number of flow versions and steps,
plus the held sends not yet released and the contacts that entered each flow version.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict, deque
from typing import Any, Final

from engage.actions import Action
from engage.flows.record import REASONS

#: The prefix of the verbs that send a message; the rest of the verb is the channel.
SEND_PREFIX: Final = "send_"
#: The outcome of a send that went out.
SENT: Final = "sent"
#: The prefix of the rule name every flow record carries.
FLOW_RULE_PREFIX: Final = "flow:"
#: Why a contact leaves a flow, in the order reports list them.
LEAVE_REASONS: Final = tuple(reason for reason in REASONS if reason)
#: The reason shown for a held send whose record does not say why it was held.
HELD_UNRECORDED: Final = "not recorded"
#: The option a held send may carry to say why it was held (``quiet hours``, a cap).
HELD_REASON_OPTION: Final = "held_reason"

FlowKey = tuple[str, int | None]


def flow_of(action: Action) -> str | None:
    """The flow an action belongs to (its rule is ``flow:NAME``), or None."""
    rule = action.rule
    return rule[len(FLOW_RULE_PREFIX) :] if rule.startswith(FLOW_RULE_PREFIX) else None


def held_reason(action: Action) -> str:
    """Why a send was held: the ``held_reason`` option when the record has one (a cap's
    text, ``quiet hours``), else :data:`HELD_UNRECORDED`."""
    options = action.options
    reason = None if options is None else options.get(HELD_REASON_OPTION)
    return reason if isinstance(reason, str) and reason else HELD_UNRECORDED


class FlowCounts:
    """What the stream showed of one version of one flow (see :class:`FlowLedger`)."""

    __slots__ = ("contacts", "converted_left", "converted_stayed", "entered", "left", "steps")

    def __init__(self) -> None:
        #: ``enter_flow`` records: entries, re-entries included.
        self.entered = 0
        #: The contacts that entered (ids), to tell entries from people.
        self.contacts: set[str] = set()
        #: ``exit_flow`` records by reason.
        self.left: Counter[str] = Counter()
        #: Goal reached: leaving with reason ``goal`` / ``flow_goal`` (``continue``).
        self.converted_left = 0
        self.converted_stayed = 0
        #: Actions written at each step path (a held send once).
        self.steps: Counter[str] = Counter()


class FlowLedger:
    """Counts per flow and version from the action stream (see the module docstring)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[FlowKey, FlowCounts] = {}

    def _of(self, flow: str, version: int | None) -> FlowCounts:
        key = (flow, version)
        counts = self.counts.get(key)
        if counts is None:
            counts = self.counts[key] = FlowCounts()
        return counts

    def observe(self, action: Action, *, repeat: bool = False) -> None:
        """Count one action; ``repeat`` marks the release record of a held send (its
        step is not counted twice). O(1)."""
        flow = flow_of(action)
        if flow is None:
            return
        verb = action.action
        if verb == "enter_flow":
            counts = self._of(flow, action.version)
            counts.entered += 1
            counts.contacts.add(action.contact)
        elif verb == "exit_flow":
            counts = self._of(flow, action.version)
            reason = (action.options or {}).get("reason", "")
            counts.left[str(reason)] += 1
            if reason == "goal":
                counts.converted_left += 1
        elif verb == "flow_goal":
            self._of(flow, action.version).converted_stayed += 1
        elif action.step is not None and not repeat:
            self._of(flow, action.version).steps[action.step] += 1


class HeldSend:
    """A held send waiting for its release record."""

    __slots__ = ("channel", "reason", "until")

    def __init__(self, channel: str, reason: str, until: float) -> None:
        self.channel = channel
        self.reason = reason
        self.until = until


class ChannelCounts:
    """The outcomes of one channel's sends (see :class:`SendLedger`)."""

    __slots__ = (
        "again",
        "held",
        "lapsed",
        "records",
        "released",
        "released_skipped",
        "released_suppressed",
        "sent",
        "skipped",
        "suppressed",
    )

    def __init__(self) -> None:
        #: Send records of the channel, held ones and their releases included.
        self.records = 0
        self.sent = 0
        self.suppressed: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        #: Held sends by the reason they were first held (each held send once).
        self.held: Counter[str] = Counter()
        #: At release: went out / suppressed by reason / skipped by reason.
        self.released = 0
        self.released_suppressed: Counter[str] = Counter()
        self.released_skipped: Counter[str] = Counter()
        #: Times a held send was held again at its release.
        self.again = 0
        #: Held flow sends dropped unreleased: the contact left the flow first.
        self.lapsed = 0


def _outcomes() -> defaultdict[str, ChannelCounts]:
    return defaultdict(ChannelCounts)


class SendLedger:
    """Each send's outcome by channel, a held send paired with its release.

    A held send and the record written at its release share contact, rule, step, verb
    and arguments, and the release comes at or after ``held_until``; the ledger keeps
    the held ones in first-held, first-released order per such key. A flow's held send
    waits at its step, so when the contact leaves the flow (``exit_flow``) the send is
    never tried again: it lapses then, and a later send of the same step (a re-entry)
    is a new send, not its release. The final outcome of a send counts once: ``sent``
    and ``suppressed`` include the sends that went out, or were stopped, at their
    release, and a send still held when the stream ends is in :meth:`pending`.
    """

    __slots__ = ("_held", "_owners", "channels")

    def __init__(self) -> None:
        self.channels: defaultdict[str, ChannelCounts] = _outcomes()
        self._held: dict[tuple[Any, ...], deque[HeldSend]] = {}
        #: The keys of the held sends of each (contact, rule), for ``exit_flow``.
        self._owners: dict[tuple[str, str], set[tuple[Any, ...]]] = {}

    def observe(self, action: Action) -> bool:
        """Count one action (anything but a send is ignored). Returns True when the
        record is the release of a held send (the same send written again). O(1), and
        an ``exit_flow`` costs O(the contact's held sends in that flow)."""
        verb = action.action
        if not verb.startswith(SEND_PREFIX):
            if verb == "exit_flow" and self._held:
                self._lapse(action.contact, action.rule)
            return False
        channel = verb[len(SEND_PREFIX) :]
        counts = self.channels[channel]
        counts.records += 1
        key = self._key(action) if self._held or action.held_until is not None else None
        waiting = None if key is None else self._held.get(key)
        released = waiting is not None and waiting[0].until <= action.time
        if released:
            assert waiting is not None and key is not None
            if action.held_until is not None:  # held again: the same send, later
                waiting[0].until = action.held_until
                counts.again += 1
                return True
            waiting.popleft()
            if not waiting:
                self._forget(key)
            counts.released += 1
            if action.suppressed is not None:
                counts.released_suppressed[action.suppressed] += 1
            elif action.skipped is not None:
                counts.released_skipped[action.skipped] += 1
        if action.suppressed is not None:
            counts.suppressed[action.suppressed] += 1
        elif action.skipped is not None:
            counts.skipped[action.skipped] += 1
        elif action.held_until is not None:
            assert key is not None
            reason = held_reason(action)
            counts.held[reason] += 1
            self._held.setdefault(key, deque()).append(HeldSend(channel, reason, action.held_until))
            self._owners.setdefault((action.contact, action.rule), set()).add(key)
        else:
            counts.sent += 1
        return released

    def _forget(self, key: tuple[Any, ...]) -> None:
        del self._held[key]
        owner = (key[0], key[1])
        keys = self._owners[owner]
        keys.discard(key)
        if not keys:
            del self._owners[owner]

    def _lapse(self, contact: str, rule: str) -> None:
        """The contact left the flow ``rule`` names: its held sends there lapse."""
        for key in self._owners.pop((contact, rule), ()):
            for send in self._held.pop(key):
                self.channels[send.channel].lapsed += 1

    @staticmethod
    def _key(action: Action) -> tuple[Any, ...]:
        args = json.dumps(action.args, sort_keys=True, default=str)
        return (action.contact, action.rule, action.step, action.action, args)

    def pending(self, clock: float | None) -> dict[str, tuple[int, int]]:
        """Per channel, the held sends never released: ``(waiting, lapsed)`` — held
        until after ``clock``, or never tried again (the contact left the flow while
        the send waited, or the clock passed its release without a record of it).
        O(held)."""
        result: dict[str, tuple[int, int]] = {
            channel: (0, counts.lapsed)
            for channel, counts in self.channels.items()
            if counts.lapsed
        }
        for queue in self._held.values():
            for send in queue:
                waiting, lapsed = result.get(send.channel, (0, 0))
                if clock is None or send.until > clock:
                    waiting += 1
                else:
                    lapsed += 1
                result[send.channel] = (waiting, lapsed)
        return result

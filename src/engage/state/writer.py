"""Every change to a contact's state goes through here, and is recorded as it happens.

The writer keeps ``changes``: for each input touched since the last round, its value
before the first touch. The cascade compares those old values with the current ones to
find the net changes of a round (tagged then untagged is no change), and looks the
changed inputs up in the program's dependency map. Writing through one place is what
makes "re-evaluate only what changed" safe.
"""

from __future__ import annotations

import math
from typing import Any

from engage.history import rows as history_rows
from engage.history.channels import record as record_channel
from engage.history.rows import CHANNEL
from engage.history.track import Mode, Outcome, record_send
from engage.history.track import track as track_row
from engage.program import Key, Program
from engage.state.contact import (
    ACTIVE,
    CONSENT,
    HARD_BOUNCED,
    LISTS,
    MANY_TAGS,
    SUSPENDED,
    UNDECLARED,
    UNSUBSCRIBED,
    Contact,
    put_score,
    score_of,
)
from engage.time.valuation import is_discarded

DISCARD_KEY: Key = ("discard",)
STATUS_KEY: Key = ("status",)
TAGS_KEY: Key = ("tags",)
GROUPS_KEY: Key = ("groups",)
LAST_ACTIVITY_KEY: Key = ("last_activity",)
VALUATION_KEY: Key = ("valuation",)
#: The contact's history rows (read by ``had status``, ``status for campaign``,
#: ``count contacts``); its value is :func:`engage.history.rows.version`.
TRACKED_KEY: Key = ("tracked",)
#: The key conditions reading ``account.X`` depend on: the contact's account moved.
ACCOUNT_KEY: Key = ("account",)


def whole_as_int(value: float) -> float:
    """A score value as stored: a whole-number float as an int (``2.5 + 2.5`` is ``5``,
    whichever path added the points), other floats as they are."""
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


class StateWriter:
    """Applies changes to contacts and records what each input was before."""

    __slots__ = (
        "_whole_tags_read",
        "changes",
        "channels",
        "discarded",
        "flow_requests",
        "now",
        "program",
    )

    def __init__(self, program: Program) -> None:
        self.program = program
        self.changes: dict[Key, Any] = {}
        self.now = 0.0
        #: Ids of the contacts that are discarded (suspended, unsubscribed from all,
        #: hard-bounced): few, and needed to count recency classes from the index.
        self.discarded: set[str] = set()
        #: ``enter flow`` / ``exit flow`` actions not yet carried out: (contact id,
        #: verb, flow). The flow driver carries them out once the cascade is over.
        self.flow_requests: list[tuple[str, str, str]] = []
        #: Whether sends note ``sent`` as their channel's last action (the engine's
        #: ``channel_activity``).
        self.channels = False
        #: Whether a rule or segment reads the tags as a whole (not only one tag).
        self._whole_tags_read = any(
            TAGS_KEY in deps
            for deps in (program.rule_deps, program.segment_deps, program.rearm_deps)
        )

    def _note_discarded(self, contact: Contact) -> None:
        if is_discarded(contact):
            self.discarded.add(contact.id)
        else:
            self.discarded.discard(contact.id)

    def _touch(self, key: Key, old: Any) -> None:
        if key not in self.changes:
            self.changes[key] = old

    # -- scores -----------------------------------------------------------------

    def read_score(self, contact: Contact, index: int) -> Any:
        """The score's value at the clock (decayed and clamped for decaying scores)."""
        spec = self.program.scores[index]
        stored = score_of(contact, index)
        if spec.decay is None or stored is None:
            return stored
        return spec.decay.read(stored, self.now)

    def set_score(self, contact: Contact, index: int, value: float | None) -> None:
        """Set a score's value (clamped); None empties it."""
        spec = self.program.scores[index]
        if value is not None:
            if value < spec.low:
                value = spec.low
            elif value > spec.high:
                value = spec.high
            if value.__class__ is float:
                value = whole_as_int(value)
            if spec.decay is not None:
                value = spec.decay.scale(value, self.now)
        old = score_of(contact, index)
        if old == value and (old is None) == (value is None):
            return
        self._touch(spec.key, old)
        put_score(contact, index, value)

    def add_points(self, contact: Contact, index: int, points: float) -> None:
        current = self.read_score(contact, index)
        total = (0 if current is None else current) + points
        if total.__class__ is float and not math.isfinite(total):
            return
        self.set_score(contact, index, total)

    # -- fields -------------------------------------------------------------------

    def set_field(self, contact: Contact, index: int, value: Any) -> None:
        fields = contact.fields
        if fields is None:
            if value is None:
                return
            fields = contact.fields = [None] * len(self.program.fields)
        old = fields[index]
        if old == value and old.__class__ is value.__class__:
            return
        self._touch(self.program.fields[index].key, old)
        fields[index] = value

    def set_undeclared(self, contact: Contact, name: str, value: Any) -> None:
        """Fields no rule declares are kept (and dumped) but read by no condition
        (except ``account``: conditions that read ``account.X`` follow it)."""
        extra = contact.more()
        store = extra.setdefault(UNDECLARED, {})
        if name == "account" and store.get(name) != value:
            self._touch(ACCOUNT_KEY, store.get(name))
        if value is None:
            store.pop(name, None)
        else:
            store[name] = value

    # -- tags and groups ------------------------------------------------------------

    def add_tag(self, contact: Contact, tag: str) -> bool:
        tags = contact.tags
        if tag in tags:
            return False
        self._touch(("tag", tag), False)
        if isinstance(tags, tuple):
            self._touch(TAGS_KEY, tags)
            if len(tags) < MANY_TAGS:
                contact.tags = (*tags, tag)
            else:
                contact.tags = dict.fromkeys((*tags, tag))
        else:
            self._touch_many_tags(tags)
            tags[tag] = None
        return True

    def remove_tag(self, contact: Contact, tag: str) -> bool:
        tags = contact.tags
        if tag not in tags:
            return False
        self._touch(("tag", tag), True)
        if isinstance(tags, tuple):
            self._touch(TAGS_KEY, tags)
            contact.tags = tuple(t for t in tags if t != tag)
        else:
            self._touch_many_tags(tags)
            del tags[tag]
        return True

    def _touch_many_tags(self, tags: dict[str, None]) -> None:
        """Record the tags before a change to a dict of them, which changes in place.

        The copy is what a round compares against, and is only needed when some rule or
        segment reads the tags as a whole (``tags contains ...``): otherwise a changed
        tag is all the rounds look at, and a contact with many tags is not copied.
        """
        if self._whole_tags_read and TAGS_KEY not in self.changes:
            self.changes[TAGS_KEY] = tuple(tags)

    def add_group(self, contact: Contact, group: str) -> bool:
        groups = contact.groups
        if group in groups:
            return False
        self._touch(("group", group), False)
        self._touch(GROUPS_KEY, groups)
        contact.groups = (*groups, group)
        return True

    def remove_group(self, contact: Contact, group: str) -> bool:
        groups = contact.groups
        if group not in groups:
            return False
        self._touch(("group", group), True)
        self._touch(GROUPS_KEY, groups)
        contact.groups = tuple(g for g in groups if g != group)
        return True

    # -- status, consent, unsubscribes, bounces -------------------------------------

    def set_status(self, contact: Contact, status: str) -> None:
        if contact.status == status:
            return
        self._touch(DISCARD_KEY, is_discarded(contact))
        self._touch(STATUS_KEY, contact.status)
        contact.status = status
        self._note_discarded(contact)

    def suspend(self, contact: Contact) -> None:
        self.set_status(contact, SUSPENDED)

    def reactivate(self, contact: Contact) -> None:
        self.set_status(contact, ACTIVE)

    def set_consent(self, contact: Contact, channel: str, value: bool | str | None) -> None:
        """Consent for ``channel``: true, false, ``"never"`` (refuses every message,
        transactional ones too) or None (forget the answer: empty again)."""
        extra = contact.more()
        consent = extra.setdefault(CONSENT, {})
        old = consent.get(channel)
        if old is value or (old.__class__ is value.__class__ and old == value):
            return
        # The input's value as conditions read it (a refusal of everything is false).
        self._touch(("consent", channel), False if old == "never" else old)
        if value is None:
            consent.pop(channel, None)
        else:
            consent[channel] = value

    def unsubscribe(
        self, contact: Contact, scope: str, name: str | None, channel: str | None
    ) -> None:
        """Record an unsubscribe (``all``/``campaign``/``category``, optional channel)."""
        extra = contact.more()
        entries: list[list[Any]] = extra.setdefault(UNSUBSCRIBED, [])
        entry = [scope, name, channel]
        if entry in entries:
            return
        self._touch(DISCARD_KEY, is_discarded(contact))
        self._touch(("unsubscribed",), len(entries))
        entries.append(entry)
        self._note_discarded(contact)

    def subscribe_list(self, contact: Contact, list_name: str) -> bool:
        """Put the contact on subscription list ``list_name``; False if it was on it."""
        lists: list[str] = contact.more().setdefault(LISTS, [])
        if list_name in lists:
            return False
        self._touch(("list", list_name), False)
        lists.append(list_name)
        return True

    def unsubscribe_list(self, contact: Contact, list_name: str) -> bool:
        """Take the contact off subscription list ``list_name``; False if it was not on it."""
        extra = contact.extra
        lists = None if extra is None else extra.get(LISTS)
        if not lists or list_name not in lists:
            return False
        self._touch(("list", list_name), True)
        lists.remove(list_name)
        return True

    def hard_bounce(self, contact: Contact) -> None:
        extra = contact.more()
        if extra.get(HARD_BOUNCED):
            return
        self._touch(DISCARD_KEY, is_discarded(contact))
        extra[HARD_BOUNCED] = True
        self._note_discarded(contact)

    # -- activity, flows, history ------------------------------------------------------

    def activity(self, contact: Contact, moment: float) -> None:
        """An activity event at ``moment``: ``last_activity`` becomes the later time."""
        old = contact.last_activity
        if old is not None and old >= moment:
            return
        self._touch(LAST_ACTIVITY_KEY, old)
        contact.last_activity = moment

    def enter_flow(self, contact: Contact, flow: str) -> None:
        """Ask for ``contact`` to enter ``flow`` (the flow driver decides, after the
        cascade: one running instance per contact and flow)."""
        self.flow_requests.append((contact.id, "enter_flow", flow))

    def exit_flow(self, contact: Contact, flow: str) -> None:
        """Ask for ``contact`` to leave ``flow`` (reason ``exit``)."""
        self.flow_requests.append((contact.id, "exit_flow", flow))

    def track(
        self,
        contact: Contact,
        status: str,
        campaign: str | None = None,
        offer: str | None = None,
        channel: str | None = None,
        mode: Mode = "both",
    ) -> Outcome:
        """Track ``status`` on the contact's history at the clock (see
        :func:`engage.history.track.track`); the change is recorded for the cascade."""
        if TRACKED_KEY not in self.changes:
            self.changes[TRACKED_KEY] = history_rows.version(contact)
        return track_row(contact, status, self.now, campaign, offer, channel, mode)

    def record_send(self, contact: Contact, action: Any, status: str) -> None:
        """The history row of a send that goes out (see
        :func:`engage.history.track.record_send`)."""
        if action.stopped:
            return
        if TRACKED_KEY not in self.changes:
            self.changes[TRACKED_KEY] = history_rows.version(contact)
        row = record_send(contact, action, self.now, status)
        if self.channels and row is not None and row[CHANNEL] is not None:
            record_channel(contact, f"{row[CHANNEL]}.sent", self.now)

"""Read-only views of a contact, as hosts and the ``--dump`` output see it.

A view reads the contact at the clock: decaying scores decayed, the recency class
computed, segments by name. It copies nothing until asked, so looking a contact up is
cheap; ``to_dict()`` gives the ``--dump`` object of the contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engage.flows.record import inside, unpack
from engage.history.channels import activity as channel_activity
from engage.history.rows import row_dict
from engage.program import Program
from engage.state.contact import (
    CONSENT,
    HARD_BOUNCED,
    HISTORY,
    LISTS,
    UNDECLARED,
    UNSUBSCRIBED,
    Contact,
    score_of,
)
from engage.time.valuation import class_of, is_discarded
from engage.timeutil import epoch_to_datetime, format_time


def _round(value: Any) -> Any:
    if isinstance(value, float):
        rounded = round(value, 6)
        return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded
    return value


class ContactView:
    """One contact at one moment. Attributes are computed on access."""

    __slots__ = ("_contact", "_now", "_program")

    def __init__(self, program: Program, contact: Contact, now: float) -> None:
        self._program = program
        self._contact = contact
        self._now = now

    @property
    def id(self) -> str:
        return self._contact.id

    @property
    def scores(self) -> dict[str, Any]:
        """Every declared score that has a value, at the clock."""
        result = {}
        for spec in self._program.scores:
            stored = score_of(self._contact, spec.index)
            if stored is None:
                continue
            if spec.decay is not None:
                stored = spec.decay.read(stored, self._now)
            result[spec.name] = stored
        return result

    def score(self, name: str) -> Any:
        return self.scores.get(name)

    @property
    def fields(self) -> dict[str, Any]:
        """Declared fields that have a value, then the undeclared ones the host sent."""
        result: dict[str, Any] = {}
        values = self._contact.fields
        if values is not None:
            for spec in self._program.fields:
                value = values[spec.index]
                if value is not None:
                    if spec.type == "time":
                        value = format_time(value)
                    elif isinstance(value, tuple):
                        value = list(value)
                    result[spec.name] = value
        undeclared = self._contact.get_extra(UNDECLARED)
        if undeclared:
            for name, value in undeclared.items():
                result.setdefault(name, list(value) if isinstance(value, tuple) else value)
        return result

    @property
    def tags(self) -> list[str]:
        return list(self._contact.tags)

    @property
    def groups(self) -> list[str]:
        return list(self._contact.groups)

    @property
    def segments(self) -> list[str]:
        segs = self._contact.segs
        return [s.name for s in self._program.segments if segs & s.bit and not s.hidden]

    @property
    def valuation(self) -> str:
        contact = self._contact
        return class_of(
            self._program.classes, contact.last_activity, is_discarded(contact), self._now
        )

    @property
    def status(self) -> str:
        return self._contact.status

    @property
    def consent(self) -> dict[str, bool | str]:
        """Answers by channel: true, false, or ``"never"`` (refuses every message)."""
        return dict(self._contact.get_extra(CONSENT) or {})

    @property
    def lists(self) -> list[str]:
        """The subscription lists the contact is on, in the order it joined them."""
        return list(self._contact.get_extra(LISTS) or ())

    @property
    def unsubscribed(self) -> list[dict[str, Any]]:
        entries = self._contact.get_extra(UNSUBSCRIBED) or ()
        return [
            {k: v for k, v in (("scope", s), ("name", n), ("channel", c)) if v is not None}
            for s, n, c in entries
        ]

    @property
    def hard_bounced(self) -> bool:
        return bool(self._contact.get_extra(HARD_BOUNCED))

    @property
    def flows(self) -> list[str]:
        """The flows the contact is inside now, in the order it first entered them."""
        return [record.name for record in inside(self._contact.flows)]

    @property
    def flow_places(self) -> list[dict[str, Any]]:
        """Where the contact is or was in each flow it entered: flow, version, whether
        inside, the instruction it is at and since when, or why and when it left."""
        places = []
        for record in unpack(self._contact.flows).values():
            place: dict[str, Any] = {"flow": record.name, "version": record.version}
            if record.inside:
                place.update(inside=True, at=record.pc, since=format_time(record.since))
                if record.wake is not None:
                    place["until"] = format_time(record.wake)
            else:
                place.update(inside=False, reason=record.reason, left=format_time(record.since))
            place["entries"] = record.entries
            if record.converted:
                place["converted"] = True
            places.append(place)
        return places

    @property
    def history(self) -> list[dict[str, Any]]:
        """Contact-history rows (sends, ``track``), oldest first: campaign, offer,
        channel, template where set, ``status``, ``at`` (the contact time) and ``log``
        (``[status, at]`` changes). See :mod:`engage.history.rows`."""
        rows = self._contact.get_extra(HISTORY) or ()
        return [row_dict(row, format_time) for row in rows]

    @property
    def channels(self) -> dict[str, dict[str, str]]:
        """Per-channel activity: ``{channel: {"action": "open", "at": TIME}}`` (the
        profile's channels; recorded when the engine's ``channel_activity`` is on)."""
        return {
            channel: {"action": action, "at": format_time(at)}
            for channel, (action, at) in channel_activity(self._contact).items()
        }

    @property
    def created(self) -> datetime:
        return epoch_to_datetime(self._contact.created)

    @property
    def last_activity(self) -> datetime | None:
        moment = self._contact.last_activity
        return None if moment is None else epoch_to_datetime(moment)

    def to_dict(self) -> dict[str, Any]:
        """The ``--dump`` object: keys sorted, scores rounded to 6 decimals."""
        contact = self._contact
        record: dict[str, Any] = {
            "contact": contact.id,
            "created": format_time(contact.created),
            "fields": self.fields,
            "groups": self.groups,
            "last_activity": (
                None if contact.last_activity is None else format_time(contact.last_activity)
            ),
            "scores": {name: _round(value) for name, value in self.scores.items()},
            "segments": self.segments,
            "status": contact.status,
            "tags": self.tags,
            "valuation": self.valuation,
        }
        consent = self.consent
        if consent:
            record["consent"] = consent
        lists = self.lists
        if lists:
            record["lists"] = lists
        unsubscribed = self.unsubscribed
        if unsubscribed:
            record["unsubscribed"] = unsubscribed
        if self.hard_bounced:
            record["hard_bounced"] = True
        places = self.flow_places
        if places:
            record["flows"] = [place["flow"] for place in places if place["inside"]]
            record["flow_places"] = places
        history = self.history
        if history:
            record["history"] = history
        channels = self.channels
        if channels:
            record["channels"] = channels
        return dict(sorted(record.items()))

    def __repr__(self) -> str:
        return f"<ContactView {self.id!r} scores={self.scores} tags={self.tags}>"

"""The compiled records of campaigns and the contact policy (what ``Program`` holds).

The compiler (:mod:`engage.dsl.compiler`) fills them from a checked program; the send
gate (:mod:`engage.policy.gate`) reads them. Plain slotted records, built once per
program; nothing here runs per event.
"""

from __future__ import annotations

from typing import Any, Final
from zoneinfo import ZoneInfo

from engage.time.zones import zone

#: The cap scopes that are channels (``email at most 3 per 7 days``).
CHANNEL_SCOPES: Final = ("email", "sms", "push")


class CampaignSpec:
    """A declared campaign: who qualifies, its category, priority and unsubscribe link.

    ``segment_bits`` has the bit of each of its segments (as in ``Contact.segs``);
    0 means every contact qualifies (a campaign without ``for segment``).
    """

    __slots__ = (
        "category",
        "link_campaign",
        "link_category",
        "link_channel_only",
        "log_status",
        "name",
        "priority",
        "requires_list",
        "segment_bits",
        "segments",
    )

    def __init__(
        self,
        name: str,
        *,
        segments: tuple[str, ...] = (),
        segment_bits: int = 0,
        category: str | None = None,
        priority: int | None = None,
        log_status: str | None = None,
        requires_list: str | None = None,
        link: tuple[bool, bool, bool] = (True, False, True),
    ) -> None:
        self.name = name
        self.segments = segments
        self.segment_bits = segment_bits
        self.category = category
        self.priority = priority
        #: The history status its sends get (contact history; default ``contacted``).
        self.log_status = log_status
        self.requires_list = requires_list
        self.link_campaign, self.link_category, self.link_channel_only = link

    def unsubscribe_link(self, channel: str) -> dict[str, Any]:
        """The ``data`` of the ``unsubscribe`` event the link of a send on ``channel``
        sends back (the host's mailer builds the link from it)."""
        data: dict[str, Any] = {}
        if self.link_campaign:
            data["campaign"] = self.name
        if self.link_category and self.category is not None:
            data["category"] = self.category
        if self.link_channel_only:
            data["channel"] = channel
        return data

    def __repr__(self) -> str:
        return f"CampaignSpec({self.name!r})"


class CapSpec:
    """One cap: ``scope`` is a channel, ``any``, ``category`` (with ``category``) or
    ``contacts`` (history rows that count as contact: engage.history)."""

    __slots__ = ("category", "limit", "scope", "text", "window")

    def __init__(self, scope: str, category: str | None, limit: int, window: float, text: str):
        self.scope = scope
        self.category = category
        self.limit = limit
        self.window = window
        #: How a send it stops says why: ``cap email 3 per 7 days``.
        self.text = text

    def __repr__(self) -> str:
        return f"CapSpec({self.text!r})"


class PolicySpec:
    """The program's ``policy { ... }``.

    ``caps`` are the send caps the gate enforces (channels, ``any``, categories);
    ``contact_caps`` the ``contacts at most`` lines (counted on contact history).
    ``quiet`` is (start, end) in minutes after midnight, or None.
    """

    __slots__ = (
        "caps",
        "category_priority",
        "contact_caps",
        "hold",
        "longest_window",
        "quiet",
        "require_consent",
        "zone",
        "zone_name",
    )

    def __init__(
        self,
        *,
        zone_name: str = "UTC",
        caps: tuple[CapSpec, ...] = (),
        contact_caps: tuple[CapSpec, ...] = (),
        quiet: tuple[int, int] | None = None,
        hold: bool = False,
        require_consent: frozenset[str] = frozenset(),
        category_priority: dict[str, int] | None = None,
    ) -> None:
        self.zone_name = zone_name
        self.zone: ZoneInfo = zone(zone_name)  # a checked name: the database knows it
        self.caps = caps
        self.contact_caps = contact_caps
        self.quiet = quiet
        self.hold = hold
        self.require_consent = require_consent
        self.category_priority = category_priority or {}
        #: How far back the send counters must remember (0: no caps, keep none).
        self.longest_window = max((cap.window for cap in caps), default=0.0)

    @property
    def may_hold(self) -> bool:
        """Whether a send can be held (quiet hours, or caps under ``over cap hold``):
        then contacts need wake-ups to release what was held."""
        return self.quiet is not None or (self.hold and bool(self.caps))

    def __repr__(self) -> str:
        return f"PolicySpec(zone={self.zone_name!r}, caps={self.caps!r}, quiet={self.quiet!r})"

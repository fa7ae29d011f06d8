"""Campaign and policy declarations compiled into their records (:mod:`engage.policy.specs`).

Called by :mod:`engage.dsl.compiler` on a checked program, so names, zones and times of
day are known to be valid here. Linear in the number of campaigns and policy lines.
"""

from __future__ import annotations

from typing import Any

from engage.dsl import ast
from engage.policy.specs import CampaignSpec, CapSpec, PolicySpec
from engage.time.zones import DEFAULT_ZONE, parse_clock


def compile_campaigns(symbols: Any) -> dict[str, CampaignSpec]:
    """The declared campaigns as :class:`CampaignSpec` records (segments as bits)."""
    campaigns: dict[str, CampaignSpec] = {}
    for name, decl in symbols.campaigns.items():
        bits = 0
        for segment in decl.segments:
            bits |= 1 << symbols.segments[segment]
        link = decl.link
        campaigns[name] = CampaignSpec(
            name,
            segments=decl.segments,
            segment_bits=bits,
            category=decl.category,
            priority=decl.priority,
            log_status=decl.log_status,
            requires_list=decl.requires_list,
            link=(True, False, True)
            if link is None
            else (link.campaign, link.category, link.channel_only),
        )
    return campaigns


def compile_policy(block: ast.PolicyBlock | None) -> PolicySpec | None:
    """The ``policy`` block as a :class:`PolicySpec` (None without one)."""
    if block is None:
        return None
    caps: list[CapSpec] = []
    contact_caps: list[CapSpec] = []
    for cap in block.caps:
        window = float(cap.window.seconds)
        limit = int(cap.limit)
        if cap.scope == "category":
            text = f"cap category {cap.category} {limit} per {cap.window.text}"
        else:
            text = f"cap {cap.scope} {limit} per {cap.window.text}"
        spec = CapSpec(cap.scope, cap.category, limit, window, text)
        (contact_caps if cap.scope == "contacts" else caps).append(spec)
    quiet = None
    if block.quiet is not None:
        quiet = (parse_clock(block.quiet.start), parse_clock(block.quiet.end))
    return PolicySpec(
        zone_name=block.timezone or DEFAULT_ZONE,
        caps=tuple(caps),
        contact_caps=tuple(contact_caps),
        quiet=quiet,
        hold=block.over_cap == "hold",
        require_consent=frozenset(block.require_consent),
        category_priority={p.category: p.priority for p in block.category_priorities},
    )

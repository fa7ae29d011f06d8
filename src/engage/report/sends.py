"""The report's sends section: every send of a channel, counted once by its outcome.

A send goes out (``sent``), is suppressed (consent, an unsubscribe, a suspension, a
bounce, a cap under ``over cap drop``), is skipped (a cross-campaign send the contact
does not qualify for) or is held (a cap under ``over cap hold``, quiet hours) and tried
again at its release, where it goes out, is suppressed or skipped, or is held again.
The numbers come from :class:`~engage.report.ledgers.SendLedger`; per channel:

``sends == sent + suppressed_total + skipped_total + held.waiting + held.lapsed``

and ``records`` (the send records of the output stream) is ``sends`` plus the records
written at releases (``held.released`` and ``held.held_again``). Cost: linear in the
channels and reasons.
"""

from __future__ import annotations

from typing import Any

from engage.report.collect import Facts
from engage.report.model import Chart, Table
from engage.report.timeline import Timeline


def numbers(facts: Facts, timeline: Timeline | None) -> list[dict[str, Any]] | None:
    """Per channel (sorted), the ``sends`` value of the JSON object; None from a
    state folder (no history)."""
    ledger = facts.sends
    if ledger is None:
        return None
    pending = ledger.pending(facts.engine.now)
    result = []
    for channel in sorted(ledger.channels):
        counts = ledger.channels[channel]
        waiting, lapsed = pending.get(channel, (0, 0))
        suppressed = dict(sorted(counts.suppressed.items()))
        skipped = dict(sorted(counts.skipped.items()))
        held_total = sum(counts.held.values())
        result.append(
            {
                "channel": channel,
                "sends": counts.records - counts.released - counts.again,
                "records": counts.records,
                "sent": counts.sent,
                "suppressed": suppressed,
                "suppressed_total": sum(suppressed.values()),
                "skipped": skipped,
                "skipped_total": sum(skipped.values()),
                "held": {
                    "total": held_total,
                    "by_reason": dict(sorted(counts.held.items())),
                    "released": {
                        "total": counts.released,
                        "sent": counts.released
                        - sum(counts.released_suppressed.values())
                        - sum(counts.released_skipped.values()),
                        "suppressed": dict(sorted(counts.released_suppressed.items())),
                        "skipped": dict(sorted(counts.released_skipped.items())),
                    },
                    "held_again": counts.again,
                    "waiting": waiting,
                    "lapsed": lapsed,
                },
            }
        )
    return result


def tables(value: list[dict[str, Any]] | None, meta: dict[str, Any]) -> list[Table]:
    """ "Sends by channel" (each send once, by its outcome) and, when a send was held,
    "Held sends" (why, and what happened at the release)."""
    if value is None:
        return []
    rows: list[tuple[Any, ...]] = []
    held_rows: list[tuple[Any, ...]] = []
    for row in value:
        channel = row["channel"]
        rows.append((channel, "sent", row["sent"]))
        rows += [(channel, f"suppressed: {r}", n) for r, n in row["suppressed"].items()]
        rows += [(channel, f"skipped: {r}", n) for r, n in row["skipped"].items()]
        held = row["held"]
        pending = held["waiting"] + held["lapsed"]
        if pending:
            rows.append((channel, "held, not released", pending))
        if not held["total"]:
            continue
        held_rows += [(channel, f"held: {r}", n) for r, n in held["by_reason"].items()]
        released = held["released"]
        held_rows.append((channel, "released: sent", released["sent"]))
        held_rows += [
            (channel, f"released: suppressed: {r}", n) for r, n in released["suppressed"].items()
        ]
        held_rows += [
            (channel, f"released: skipped: {r}", n) for r, n in released["skipped"].items()
        ]
        for key, label in (
            ("held_again", "held again at a release"),
            ("waiting", "still held (release after the clock)"),
            ("lapsed", "never released (the contact left the flow)"),
        ):
            if held[key]:
                held_rows.append((channel, label, held[key]))
    result = [Table("Sends by channel", ("channel", "outcome", "sends"), tuple(rows))]
    if held_rows:
        result.append(Table("Held sends", ("channel", "held, then", "sends"), tuple(held_rows)))
    return result


def charts(value: list[dict[str, Any]] | None, meta: dict[str, Any]) -> list[Chart]:
    """One stacked bar per channel: sent, each suppression and skip reason, held."""
    if not value:
        return []
    channels = tuple(row["channel"] for row in value)
    series: list[tuple[str, tuple[float, ...]]] = [
        ("sent", tuple(float(row["sent"]) for row in value))
    ]
    for kind in ("suppressed", "skipped"):
        reasons = sorted({reason for row in value for reason in row[kind]})
        series += [
            (f"{kind}: {reason}", tuple(float(row[kind].get(reason, 0)) for row in value))
            for reason in reasons
        ]
    pending = tuple(float(row["held"]["waiting"] + row["held"]["lapsed"]) for row in value)
    if any(pending):
        series.append(("held, not released", pending))
    return [Chart("bars", "Send outcomes", channels, tuple(series), ylabel="sends")]

"""Firing modes: when a rule whose condition was evaluated actually fires.

The cascade evaluates a rule's condition and knows whether it held before (for ``when``
rules); :func:`should_fire` applies the rule's mode on top — edge, ``each time``,
``once``, ``re-arm when`` and ``at most once per D`` — and records the marks the modes
keep per contact (fired-once, disarmed, last firing time) in ``Contact.extra``, keyed by
rule name so that they survive a reload of the rules.
"""

from __future__ import annotations

from engage.program import RuleSpec
from engage.state.contact import DISARMED, LAST_FIRED, ONCE_FIRED, Contact


def should_fire(rule: RuleSpec, contact: Contact, prev: bool, new: bool, now: float) -> bool:
    """Whether ``rule`` fires, given its condition before (``prev``) and now (``new``).

    For ``each time`` rules and for rules on events, ``prev`` is False: every
    evaluation (every matching event) is a fresh chance to fire.
    """
    if not new:
        return False
    mode = rule.mode
    if mode != "each" and prev:
        return False
    extra = contact.extra
    name = rule.name
    if mode == "once" and extra is not None and name in extra.get(ONCE_FIRED, ()):
        return False
    if mode == "rearm" and extra is not None and name in extra.get(DISARMED, ()):
        return False
    if rule.cooldown is not None:
        last = None if extra is None else extra.get(LAST_FIRED, {}).get(name)
        if last is not None and now - last < rule.cooldown:
            return False
        contact.more().setdefault(LAST_FIRED, {})[name] = now
    if mode == "once":
        contact.more().setdefault(ONCE_FIRED, []).append(name)
    elif mode == "rearm":
        contact.more().setdefault(DISARMED, []).append(name)
    return True


def rearm(rule: RuleSpec, contact: Contact) -> bool:
    """Re-arm a disarmed ``re-arm when`` rule; True if it was disarmed."""
    extra = contact.extra
    if extra is None:
        return False
    disarmed = extra.get(DISARMED)
    if not disarmed or rule.name not in disarmed:
        return False
    disarmed.remove(rule.name)
    if not disarmed:
        del extra[DISARMED]
    return True


def is_disarmed(rule: RuleSpec, contact: Contact) -> bool:
    extra = contact.extra
    return extra is not None and rule.name in extra.get(DISARMED, ())

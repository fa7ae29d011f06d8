"""Compiled records of accounts and leads: what the store runs.

Built once per program by :mod:`engage.b2b.compile`; the functions they hold are
generated conditions ``f(c, ev, now)`` (over a contact for roll-up conditions and lead
score lines, over an account or a lead for account and lead rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from engage.actions import ActionSpec
from engage.scoring.decay import Decay

Condition = Callable[[Any, Any, float], Any]
Kind = Literal["sum", "max", "min", "avg", "count"]


@attrs.define(slots=True, eq=False)
class RollupSpec:
    """``account score NAME = KIND of SCORE over contacts`` (or ``count ... where``).

    ``score`` is the contact score's index (None for ``count``); ``decay`` is that
    score's decay law, shared with the engine (its reference time moves with the
    engine's), so aggregates of scaled values stay exact as time passes.
    """

    name: str
    index: int
    kind: Kind
    score: int | None
    decay: Decay | None
    where: Condition | None = None


@attrs.define(slots=True, eq=False)
class LeadScoreSpec:
    """``lead score NAME { ... }``: its decay law (a copy per engine) and clamp."""

    name: str
    index: int
    decay: Decay | None
    low: float
    high: float


@attrs.define(slots=True, eq=False)
class LeadLine:
    """One score line of a lead score, with its caps (kept per lead under ``id``)."""

    id: str
    score: int
    points: float
    where: Condition | None = None
    cap_total: float | None = None
    cap_window: float | None = None
    cap_limit: float | None = None
    once: bool = False


@attrs.define(slots=True, eq=False)
class EntityRuleSpec:
    """A rule fired per account or per lead, once per crossing (or ``once`` ever)."""

    name: str
    entity: Literal["account", "lead"]
    priority: int
    position: tuple[int, int, int]
    once: bool
    actions: tuple[ActionSpec, ...]
    text: str
    bit: int
    cond: Condition | None = None


@attrs.define(slots=True, eq=False)
class B2BProgram:
    """Everything about accounts and leads a program declares."""

    account_fields: dict[str, str]
    lead_fields: dict[str, str]
    rollups: tuple[RollupSpec, ...]
    lead_scores: tuple[LeadScoreSpec, ...]
    #: Lead score lines by event type.
    lead_lines: dict[str, tuple[LeadLine, ...]]
    account_rules: tuple[EntityRuleSpec, ...]
    lead_rules: tuple[EntityRuleSpec, ...]
    #: The store the generated readers of ``account.X`` look in (one per engine: a
    #: program with accounts or leads is compiled once per engine).
    store: Any = None

    @property
    def rollup_by_name(self) -> dict[str, RollupSpec]:
        return {r.name: r for r in self.rollups}

"""Plain rules: rules whose firing is nothing but fixed actions that nothing reads.

The cascade's work after a rule fires is to run its actions (computing arguments,
checking consent, dating tasks) and, when an action changed something a rule or segment
reads, to evaluate another round. A rule whose actions are constants and outside
actions with nothing to finish, or tags and groups that nothing reads, needs none of
that: its firing is a few records and, at most, a tag set. Such rules can fire outside
the cascade's general round (a score crossing on the inline path, a wake-up, an event's
plan) with the same actions and the same state, and no later round can follow.

This module owns that classification (and the set of watched keys it rests on); the
cascade builds the ready-to-emit actions from it, and :mod:`engage.dsl.plans` asks it
which rules an event's plan may fire itself.
"""

from __future__ import annotations

from engage.actions import ActionSpec
from engage.program import Key, Program, RuleSpec
from engage.state.writer import DISCARD_KEY, GROUPS_KEY, LAST_ACTIVITY_KEY, STATUS_KEY, TAGS_KEY

#: The inputs of the recency class (watched when a rule or segment reads the class).
VALUATION_INPUTS = (LAST_ACTIVITY_KEY, STATUS_KEY, DISCARD_KEY)

#: State verbs a plain rule may use: they only add or remove a tag or group.
_PLAIN_STATE_VERBS = frozenset({"tag", "untag", "add_to_group", "remove_from_group"})


def watched_keys(program: Program) -> tuple[frozenset[Key], bool]:
    """Every state key some rule, segment or derived value reads, and whether any
    tag is read (``on tag added`` rules read every tag).

    Cost: one pass over the program's dependency maps, when the engine is built.
    """
    keys: set[Key] = set(program.rule_deps) | set(program.rearm_deps) | set(program.segment_deps)
    keys.update(("score", index) for index in program.thresholds)
    keys.update(("score", index) for index in program.score_change_rules)
    if program.valuation_watched:
        keys.update(VALUATION_INPUTS)
    return frozenset(keys), bool(program.tag_added_rules)


def plain_specs(
    rule: RuleSpec, watched: frozenset[Key], watch_tags: bool
) -> tuple[ActionSpec, ...] | None:
    """``rule``'s actions when all are plain, else None.

    Plain: constant arguments, and either an outside action with nothing to finish (not
    a send, which is checked against consent, nor a task with a due date), or a tag or
    group that no rule or segment reads.
    """
    for spec in rule.actions:
        if spec.static_args is None:
            return None
        if spec.state:
            if spec.verb not in _PLAIN_STATE_VERBS:
                return None
            tagging = spec.verb in ("tag", "untag")
            kind, every = ("tag", TAGS_KEY) if tagging else ("group", GROUPS_KEY)
            if (kind, spec.target) in watched or every in watched:
                return None
            if tagging and watch_tags:
                return None
        elif spec.kind != "other":
            return None
    return rule.actions


def fires_on_each_rise(rule: RuleSpec) -> bool:
    """Whether ``rule`` fires on every false-to-true edge with no mark to keep (no
    ``once``, ``each time``, ``re-arm`` or cooldown)."""
    return rule.mode == "edge" and rule.cooldown is None


def plan_fired(program: Program) -> frozenset[int]:
    """The ranks of the rules an event's plan may fire itself.

    - ``when`` rules of the dependency map that keep a truth bit and fire on each rise;
    - the threshold rules of a score without decay whose threshold rules all do (their
      causes show the stored values, as :meth:`Cascade.score_round
      <engage.triggers.cascade.Cascade.score_round>` gives them);
    - ``score change`` and ``on`` rules of any mode (the plan's caller applies the
      mode, as the cascade does);

    all with plain actions (:func:`plain_specs`).

    Cost: one pass over the rules, when the engine is built.
    """
    watched, watch_tags = watched_keys(program)
    ranks: set[int] = set()
    for rules in program.rule_deps.values():
        for rule in rules:
            if (
                rule.kind == "when"
                and rule.bit
                and fires_on_each_rise(rule)
                and plain_specs(rule, watched, watch_tags) is not None
            ):
                ranks.add(rule.rank)
    for index, thresholds in program.thresholds.items():
        if program.scores[index].decay is not None:
            continue
        crossing = thresholds.rules()
        if all(
            fires_on_each_rise(rule) and plain_specs(rule, watched, watch_tags) is not None
            for rule in crossing
        ):
            ranks.update(rule.rank for rule in crossing)
    for rule in made_and_on_rules(program):
        if plain_specs(rule, watched, watch_tags) is not None:
            ranks.add(rule.rank)
    return frozenset(ranks)


def made_and_on_rules(program: Program) -> list[RuleSpec]:
    """The ``score change`` rules and the event types' ``on`` rules: the rules on an
    event (engine-made or not) that a plan may fire, their mode applied then."""
    rules = [rule for rules in program.score_change_rules.values() for rule in rules]
    rules.extend(rule for plan in program.plans.values() for rule in plan.on_rules)
    return rules

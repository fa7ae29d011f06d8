"""From the checker's account and lead declarations to :class:`~engage.b2b.spec.B2BProgram`.

Called by the rules compiler (:mod:`engage.dsl.compiler`) before it builds the generated
module, so that roll-up conditions, lead score lines and account/lead rule conditions
are generated with every other function of the program (user text enters the source
only through ``repr()``, as everywhere). Linear in the size of the declarations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from engage.actions import ActionSpec
from engage.b2b.spec import B2BProgram, EntityRuleSpec, LeadLine, LeadScoreSpec, RollupSpec
from engage.b2b.store import EntityStore
from engage.dsl import ast
from engage.scoring.decay import Decay


def compile_entities(compiler: Any) -> B2BProgram | None:
    """The accounts-and-leads part of the program ``compiler`` builds (None when the
    program declares none). ``compiler`` is the rules compiler: its code generator,
    ``_later`` binding, ``_action`` and ``_text`` are reused."""
    checked = compiler.checked
    decls = checked.entities
    if not decls.declared and not decls.rules:
        return None
    gen = compiler.gen
    symbols = compiler.symbols
    rollups = []
    for index, decl in enumerate(decls.account_scores):
        score = None if decl.score is None else symbols.scores[decl.score]
        spec = RollupSpec(
            decl.name,
            index,
            decl.kind,
            None if score is None else score.index,
            None if score is None else compiler._decays.get(score.index),
        )
        if decl.where is not None:
            compiler._later(spec, "where", gen.add_condition(decl.where))
        rollups.append(spec)
    lead_scores = []
    lines: dict[str, list[LeadLine]] = defaultdict(list)
    for index, block in enumerate(decls.lead_scores):
        low = float(block.clamp.low) if block.clamp else -math.inf
        high = float(block.clamp.high) if block.clamp else math.inf
        decay = None if block.decay is None else Decay(block.decay.half_life.seconds, low, high)
        lead_scores.append(LeadScoreSpec(block.name, index, decay, low, high))
        seen: dict[str, int] = {}
        for line in block.lines:
            number = seen[line.event_type] = seen.get(line.event_type, -1) + 1
            spec_line = LeadLine(f"{block.name}:{line.event_type}:{number}", index, line.points)
            match line.cap:
                case ast.CapTotal(limit=limit):
                    spec_line.cap_total = float(limit)
                case ast.CapPerWindow(limit=limit, window=window):
                    spec_line.cap_window = float(window.seconds)
                    spec_line.cap_limit = float(limit)
                case None:
                    pass
            spec_line.once = line.once
            if line.where is not None:
                compiler._later(spec_line, "where", gen.add_condition(line.where))
            lines[line.event_type].append(spec_line)
    account_rules: list[EntityRuleSpec] = []
    lead_rules: list[EntityRuleSpec] = []
    ordered = sorted(decls.rules, key=lambda r: (-r.rule.decl.priority, r.rule.position))
    for entity_rule in ordered:
        rule = entity_rule.rule
        decl = rule.decl
        assert isinstance(decl.trigger, ast.WhenTrigger)
        kept = account_rules if entity_rule.entity == "account" else lead_rules
        actions = []
        gen.entity_context = True
        try:
            for action in decl.actions:
                if isinstance(action, ast.QualifyAction):
                    actions.append(ActionSpec("qualify_lead"))
                else:
                    actions.append(compiler._action(action, rule.file))
            condition = gen.add_condition(decl.trigger.condition)
        finally:
            gen.entity_context = False
        spec_rule = EntityRuleSpec(
            rule.name,
            entity_rule.entity,
            decl.priority,
            rule.position,
            decl.mode.kind == "once",
            tuple(actions),
            compiler._text(rule.file, decl.trigger.condition),
            1 << len(kept),
        )
        compiler._later(spec_rule, "cond", condition)
        kept.append(spec_rule)
    program = B2BProgram(
        {f.name: f.type for f in decls.account_fields},
        {f.name: f.type for f in decls.lead_fields},
        tuple(rollups),
        tuple(lead_scores),
        {event_type: tuple(found) for event_type, found in lines.items()},
        tuple(account_rules),
        tuple(lead_rules),
    )
    store = program.store = EntityStore(program)
    gen.bind("_entity", store.contact_reads)
    gen.bind("_ent", store.read)
    return program

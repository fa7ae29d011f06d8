"""The checker's stage for accounts and leads (``docs/accounts.md``).

Declarations: ``account fields``, ``lead fields``, ``account score NAME = ...`` (a roll-up
of the account's contacts) and ``lead score NAME { ... }`` (score lines, as contact
scores have). They fill ``symbols.entity_names`` so that the type pass can type
``account.X`` and ``lead.X``.

Rules are then sorted by what their condition reads:

- only lead values (``when lead.interest >= 100``): a **lead rule**, fired per lead;
- only account values (``when account.engagement >= 500``): an **account rule**, fired
  once per account crossing, not once per contact;
- contact values, with or without account values: a **contact rule**. Account values in
  it are read as they are when the contact's own condition is evaluated (see
  ``docs/accounts.md``, "Mixed conditions").

Lead and account rules are ``when`` rules (edge or ``once``) whose actions go to the
outside world (``notify``, ``create task``, ``call webhook``, ``do``) or, for leads,
``qualify lead``. Everything here is linear in the size of the program.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

from engage.dsl import ast
from engage.dsl.declarations import OPERAND_KEYWORDS, CheckedRule
from engage.dsl.expr_types import STATE_CONTEXT
from engage.dsl.report import Reporter
from engage.dsl.symbols import BUILTINS, Symbols, ValueType
from engage.dsl.walk import walk
from engage.errors import Span, did_you_mean

Entity = Literal["account", "lead"]

#: Nodes that read the contact (or the event), not an account or a lead.
_CONTACT_NODES = (ast.Name, ast.Consent, ast.Tagged, ast.InGroup, ast.InSegment, ast.Had)
_ENTITY_ACTIONS = (ast.NotifyAction, ast.TaskAction, ast.WebhookAction, ast.DoAction)


@attrs.frozen(slots=True)
class EntityRule:
    """A rule fired per account or per lead."""

    entity: Entity
    rule: CheckedRule


@attrs.frozen(slots=True)
class EntityDecls:
    """What a program declares about accounts and leads, checked."""

    account_fields: tuple[ast.FieldDecl, ...] = ()
    lead_fields: tuple[ast.FieldDecl, ...] = ()
    account_scores: tuple[ast.AccountScoreDecl, ...] = ()
    lead_scores: tuple[ast.ScoreBlock, ...] = ()
    rules: tuple[EntityRule, ...] = ()
    #: Whether any contact condition reads ``account.X``.
    contact_reads_account: bool = False

    @property
    def declared(self) -> bool:
        """Whether the program declares accounts or leads at all."""
        return bool(
            self.account_fields or self.lead_fields or self.account_scores or self.lead_scores
        )


class EntityChecker:
    """Declares account and lead names, then checks what reads them."""

    def __init__(self, symbols: Symbols, reporter: Reporter) -> None:
        self.symbols = symbols
        self.reporter = reporter
        self.account_fields: list[ast.FieldDecl] = []
        self.lead_fields: list[ast.FieldDecl] = []
        self.account_scores: list[ast.AccountScoreDecl] = []
        self.lead_scores: list[ast.ScoreBlock] = []

    # -- declarations -------------------------------------------------------------

    def declare(self, files: Sequence[ast.RulesFile]) -> None:
        """Fill ``symbols.entity_names`` from every file's account and lead blocks."""
        names = self.symbols.entity_names
        for rules_file in files:
            self.reporter.use_file(rules_file)
            for decl in rules_file.decls:
                match decl:
                    case ast.EntityFieldsBlock(entity=entity, fields=fields):
                        for field in fields:
                            if self._free(entity, field.name, field.span, "field"):
                                names[entity][field.name] = field.type
                                kept = (
                                    self.account_fields
                                    if entity == "account"
                                    else (self.lead_fields)
                                )
                                kept.append(field)
                    case ast.AccountScoreDecl(name=name, span=span):
                        if self._free("account", name, span, "score"):
                            names["account"][name] = "number"
                            self.account_scores.append(decl)
                    case ast.LeadScoreDecl(block=block, span=span):
                        if self._free("lead", block.name, span, "score"):
                            names["lead"][block.name] = "number"
                            self.lead_scores.append(block)
                    case _:
                        pass

    def _free(self, entity: Entity, name: str, span: Span, what: str) -> bool:
        taken = self.symbols.entity_names[entity]
        if name in taken:
            self.reporter.report(span, f"{entity} name {name!r} is declared twice")
            return False
        if name in BUILTINS or name == "now" or name in OPERAND_KEYWORDS:
            self.reporter.report(span, f"{name!r} is a built-in name and cannot be a {what}")
            return False
        return True

    # -- roll-ups and lead scores -------------------------------------------------

    def check_bodies(self, files: Sequence[ast.RulesFile], typing: object) -> None:
        """Roll-ups (the score they read, their condition) and lead score blocks.

        ``typing`` is the checker's :class:`~engage.dsl.type_pass.TypePass`.
        """
        from engage.dsl.type_pass import TypePass, changes_with_time  # noqa: PLC0415

        assert isinstance(typing, TypePass)
        for rules_file in files:
            self.reporter.use_file(rules_file)
            typing.typer.file = rules_file
            for decl in rules_file.decls:
                if isinstance(decl, ast.AccountScoreDecl):
                    self._rollup(decl, typing, changes_with_time)
                elif isinstance(decl, ast.LeadScoreDecl):
                    typing.score_block(decl.block)
                    for line in decl.block.lines:
                        if line.where is not None:
                            self._no_entity(line.where, "a lead score line")
                elif isinstance(decl, ast.SegmentDecl):
                    self._no_entity(decl.condition, "a segment", allow_account=True)

    def _rollup(self, decl: ast.AccountScoreDecl, typing: object, changes: object) -> None:
        report = self.reporter.report
        scores = self.symbols.scores
        if decl.score is not None and decl.score not in scores:
            report(
                decl.score_span or decl.span,
                f"unknown score {decl.score!r}: a roll-up reads a contact score",
                suggestion=did_you_mean(decl.score, scores),
            )
        if decl.where is None:
            return
        typer = typing.typer  # type: ignore[attr-defined]
        typer.condition(decl.where, STATE_CONTEXT)
        self._no_entity(decl.where, "a roll-up's condition")
        if changes(decl.where, self.symbols):  # type: ignore[operator]
            report(
                decl.where.span,
                "a roll-up's condition cannot change by time alone (within, older than, "
                "had, count, valuation, a decaying score): put it in a segment and write "
                "`count of contacts where in segment NAME`",
            )

    def _no_entity(self, expr: ast.Expr, where: str, *, allow_account: bool = False) -> None:
        for node in walk(expr):
            if isinstance(node, ast.EntityAttr) and not (
                allow_account and node.entity == "account"
            ):
                self.reporter.report(
                    node.span,
                    f"{where} cannot read `{node.entity}.{node.name}`"
                    + (
                        ": lead values are read by lead rules (`when lead.X ...`)"
                        if node.entity == "lead"
                        else ""
                    ),
                )

    # -- rules --------------------------------------------------------------------

    def classify(
        self, files: Sequence[ast.RulesFile], rules: Iterable[CheckedRule]
    ) -> tuple[tuple[CheckedRule, ...], EntityDecls]:
        """Split rules into contact rules and account/lead rules (checked)."""
        by_path = {f.path: f for f in files}
        contact_rules: list[CheckedRule] = []
        entity_rules: list[EntityRule] = []
        reads_account = False
        for rule in rules:
            rules_file = by_path.get(rule.file)
            if rules_file is not None:
                self.reporter.use_file(rules_file)
            entity = self._rule_entity(rule.decl)
            if entity is None:
                for action in rule.decl.actions:
                    if isinstance(action, ast.QualifyAction):
                        self.reporter.report(
                            action.span,
                            "`qualify lead` is an action of lead rules "
                            "(`when lead.NAME ... then qualify lead`)",
                        )
                reads_account = reads_account or _reads_entity(rule.decl, "account")
                contact_rules.append(rule)
                continue
            self._check_entity_rule(entity, rule.decl)
            entity_rules.append(EntityRule(entity, rule))
        decls = EntityDecls(
            tuple(self.account_fields),
            tuple(self.lead_fields),
            tuple(self.account_scores),
            tuple(self.lead_scores),
            tuple(entity_rules),
            reads_account,
        )
        return tuple(contact_rules), decls

    def _rule_entity(self, decl: ast.RuleDecl) -> Entity | None:
        """``account`` or ``lead`` for a rule fired per entity, else None.

        A condition that reads a lead must read nothing else; one that reads only
        account values fires per account; everything else is a contact rule."""
        exprs = list(_rule_exprs(decl))
        entities = {n.entity for e in exprs for n in walk(e) if isinstance(n, ast.EntityAttr)}
        contact = any(isinstance(n, _CONTACT_NODES) for e in exprs for n in walk(e)) or any(
            isinstance(n, ast.EventAttr | ast.Count | ast.Within) for e in exprs for n in walk(e)
        )
        is_when = isinstance(decl.trigger, ast.WhenTrigger)
        if "lead" in entities:
            if contact or "account" in entities or not is_when:
                self.reporter.report(
                    decl.trigger.span,
                    "a lead rule is a `when` rule that reads only lead values "
                    "(`when lead.interest >= 100 then ...`)",
                )
                return None
            return "lead"
        if entities == {"account"} and not contact and is_when:
            return "account"
        return None

    def _check_entity_rule(self, entity: Entity, decl: ast.RuleDecl) -> None:
        report = self.reporter.report
        if decl.mode.kind not in ("edge", "once"):
            report(
                decl.mode.span or decl.span,
                f"{_article(entity)} rule fires once per crossing (the default) or `once`",
            )
        for action in decl.actions:
            if isinstance(action, ast.QualifyAction):
                if entity != "lead":
                    report(action.span, "`qualify lead` is an action of lead rules")
                continue
            if not isinstance(action, _ENTITY_ACTIONS):
                report(
                    action.span,
                    f"{_article(entity)} rule cannot change a contact: its actions are `notify`, "
                    "`create task`, `call webhook` and `do`"
                    + (", and `qualify lead`" if entity == "lead" else ""),
                )
            elif isinstance(action, ast.DoAction):
                for arg in action.args:
                    if any(isinstance(n, _CONTACT_NODES) for n in walk(arg)):
                        report(
                            arg.span, f"{_article(entity)} rule's action cannot read the contact"
                        )


def _rule_exprs(decl: ast.RuleDecl) -> Iterable[ast.Expr]:
    trigger = decl.trigger
    if isinstance(trigger, ast.WhenTrigger):
        yield trigger.condition
    elif getattr(trigger, "where", None) is not None:
        yield trigger.where  # type: ignore[misc]
    if decl.mode.rearm is not None:
        yield decl.mode.rearm


def _reads_entity(decl: ast.RuleDecl, entity: Entity) -> bool:
    return any(
        isinstance(n, ast.EntityAttr) and n.entity == entity
        for e in _rule_exprs(decl)
        for n in walk(e)
    )


def entity_type(symbols: Symbols, entity: Entity, name: str) -> ValueType | None:
    """The type of ``entity.name``, or None when it is not declared."""
    return symbols.entity_names[entity].get(name)


def _article(entity: Entity) -> str:
    return "an account" if entity == "account" else "a lead"

"""The checker's stages: a visitor that refuses unknown nodes, the type table the code
generator reads, loop warnings that name every rule of a loop, and conditions parsed on
their own (queries) with their own columns."""

from __future__ import annotations

import typing

import pytest

import engage
from engage.dsl import ast
from engage.dsl.checker import check, type_condition
from engage.dsl.expr_types import ExprTyper
from engage.dsl.lint import _LOOP_NAMES_SHOWN
from engage.dsl.parser import parse, parse_condition
from engage.dsl.symbols import Symbols
from engage.dsl.visitor import EXPR_TYPES, ExprVisitor, UnknownNodeError
from engage.dsl.walk import walk
from engage.errors import RulesSyntaxError, Span

SPAN = Span(1, 1, 1, 2)


def test_the_type_pass_has_a_method_for_every_node_type() -> None:
    assert set(EXPR_TYPES) == set(typing.get_args(ast.Expr))
    assert ExprTyper.missing_node_types() == []


def test_a_visitor_raises_on_a_node_type_it_does_not_know() -> None:
    class OnlyNumbers(ExprVisitor[str]):
        def visit_number(self, node: ast.Number) -> str:
            return "number"

    visitor = OnlyNumbers()
    assert visitor.visit(ast.Number(1, SPAN)) == "number"
    with pytest.raises(UnknownNodeError, match="visit_tagged"):
        visitor.visit(ast.Tagged("x", SPAN))
    assert "Tagged" in OnlyNumbers.missing_node_types()


TYPED = """\
fields { city: text, nps: number, seen: time }
score { on email.open +1 }
segment hot = score >= 5 and city in ["Cali", "Lima"] and seen within 3 days
rule "r" on web.visit where event.url contains "/p" and event.at within 1 day
    then set nps = nps + 1, do crm.sync (count email.open within 7 days) (now)
"""


def test_every_node_of_every_expression_has_a_recorded_type() -> None:
    program = check([parse(TYPED, "t.rules")])
    rules_file = program.files[0]
    segment = rules_file.decls[2]
    rule = rules_file.decls[3]
    assert isinstance(segment, ast.SegmentDecl) and isinstance(rule, ast.RuleDecl)
    assert isinstance(rule.trigger, ast.OnEvent) and rule.trigger.where is not None
    roots: list[ast.Expr] = [segment.condition, rule.trigger.where]
    for action in rule.actions:
        if isinstance(action, ast.SetAction):
            roots.append(action.value)
        if isinstance(action, ast.DoAction):
            roots.extend(action.args)
    for root in roots:
        for node in walk(root):
            assert program.types.get(node) is not None, node
    types = program.types
    and_ = segment.condition
    assert isinstance(and_, ast.And)
    compare, in_list, within = and_.items
    assert isinstance(compare, ast.Compare) and isinstance(in_list, ast.InList)
    assert isinstance(within, ast.Within)
    assert [types[compare], types[compare.left], types[in_list.operand]] == [
        "bool",
        "number",
        "text",
    ]
    assert types[in_list.items] == "list" and types[within.window] == "duration"
    where = rule.trigger.where
    assert isinstance(where, ast.And)
    url, at = where.items
    assert isinstance(url, ast.TextMatch) and isinstance(at, ast.Within)
    assert types[url.operand] == "any"  # event data is not declared
    assert types[at.operand] == "time"  # the envelope is


def test_a_type_is_recorded_per_node_not_per_equal_value() -> None:
    """Two equal nodes are two entries: the table is keyed by identity."""
    program = check([parse('fields { n: number }\nwhen n > 1 and n > 1 then tag "x"', "t")])
    rule = program.files[0].decls[1]
    assert isinstance(rule, ast.RuleDecl) and isinstance(rule.trigger, ast.WhenTrigger)
    condition = rule.trigger.condition
    assert isinstance(condition, ast.And)
    first, second = condition.items
    assert first == second and first is not second
    assert program.types[first] == program.types[second] == "bool"
    with pytest.raises(KeyError, match="Compare"):
        _ = program.types[ast.Compare(">", first.left, first.left, SPAN)]  # type: ignore[union-attr]


def test_a_query_is_typed_with_its_own_table() -> None:
    symbols = check([parse("score { on email.open +1 }", "t")]).symbols
    expr = parse_condition("score + 2 >= 5")
    problems, types = type_condition(expr, symbols, "score + 2 >= 5")
    assert problems == []
    assert isinstance(expr, ast.Compare)
    assert [types[expr], types[expr.left], types[expr.right]] == ["bool", "number", "number"]
    assert len(types) == 5


# -- loops: one warning per group, every rule of it named ---------------------------------

FOUR_IN_A_LOOP = """\
score { on email.open +1 }
fields { n: number }
rule "a" when n > 1 then tag "x"
rule "b" when tagged "x" then set n = 0
rule "c" on tag added "x" then add 1 to score
rule "d" on score change then tag "x"
"""


def test_a_loop_warning_names_every_rule_of_its_group() -> None:
    warnings = engage.compile(FOUR_IN_A_LOOP, name="t.rules").warnings
    (warning,) = [w for w in warnings if "loop" in w.message]
    assert warning.message == (
        "these rules can trigger each other in a loop: 'a' -> 'b' -> 'a'; "
        "also in it: 'c', 'd' (4 rules) (a run stops such a loop after 32 rounds)"
    )
    assert (warning.span.line, warning.span.column) == (3, 1)


def test_a_long_list_of_other_rules_is_shortened() -> None:
    lines = ["score { on email.open +1 }", 'rule "hub" when tagged "go" then untag "go"']
    count = 12
    for number in range(count):
        lines.append(f'rule "s{number}" on tag added "go" then tag "t{number}"')
        lines.append(f'rule "u{number}" when tagged "t{number}" then tag "go", untag "t{number}"')
    (warning,) = [w for w in engage.compile("\n".join(lines)).warnings if "loop" in w.message]
    others = warning.message.split("also in it: ")[1]
    assert others.count("'") == 2 * _LOOP_NAMES_SHOWN
    assert "..." in others and f"({2 * count + 1} rules)" in others


# -- conditions alone ----------------------------------------------------------------------


def test_a_condition_parses_alone_with_its_own_columns() -> None:
    expr = parse_condition('score >= 5 and tagged "vip"')
    assert expr == ast.And(
        (
            ast.Compare(">=", ast.Name("score", SPAN), ast.Number(5, SPAN), SPAN),
            ast.Tagged("vip", SPAN),
        ),
        SPAN,
    )
    assert isinstance(expr, ast.And)
    assert (expr.span.column, expr.items[1].span.column) == (1, 16)


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("score >=", 9, "the condition ends too early; expected a value"),
        ("score >= 5 then", 12, "unexpected `then`; expected the end of the condition"),
        ("scroe => 5", 7, "unexpected `=`; to compare, write `==`"),
        ('score >= 5 and tagged "vip" segment x = 1', 29, "unexpected `segment`"),
    ],
)
def test_a_condition_alone_reports_at_its_own_column(text: str, column: int, message: str) -> None:
    with pytest.raises(RulesSyntaxError) as caught:
        parse_condition(text)
    (found,) = caught.value.diagnostics
    assert (found.file, found.span.line, found.span.column) == ("<query>", 1, column)
    assert message in found.message


def test_a_rules_file_is_not_a_condition() -> None:
    with pytest.raises(RulesSyntaxError):
        parse_condition('when score >= 5 then tag "x"')


def test_a_query_text_without_errors_is_still_checked_against_the_names() -> None:
    symbols = check([parse("score { on email.open +1 }", "t")]).symbols
    text = "scroe >= 5"
    problems, _ = type_condition(parse_condition(text), symbols, text)
    assert [(d.span.column, d.message) for d in problems] == [
        (1, "unknown name 'scroe' (did you mean 'score'?)")
    ]


def test_symbols_no_longer_guess_types() -> None:
    assert not hasattr(Symbols(), "type_of")

"""The parser: every construct of the language, and every shape of syntax error.

Syntax trees compare by value (spans are left out of equality), so the expected trees
are written by hand with a dummy span.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engage.dsl import ast
from engage.dsl.parser import MAX_NESTING, MAX_RULES_CHARS, parse
from engage.errors import LimitExceededError, RulesSyntaxError, Span

S = Span(0, 0)


def only(text: str) -> ast.Decl:
    decls = parse(text, "t.rules").decls
    assert len(decls) == 1
    return decls[0]


def condition(text: str) -> ast.Expr:
    decl = only(f'when {text} then tag "x"')
    assert isinstance(decl, ast.RuleDecl) and isinstance(decl.trigger, ast.WhenTrigger)
    return decl.trigger.condition


def errors(text: str) -> list[str]:
    with pytest.raises(RulesSyntaxError) as caught:
        parse(text, "t.rules")
    return [d.format() for d in caught.value.diagnostics]


def name(n: str) -> ast.Name:
    return ast.Name(n, S)


def num(v: float) -> ast.Number:
    return ast.Number(v, S)


def days(n: int) -> ast.DurationLit:
    return ast.DurationLit(n * 86400.0, f"{n} {'day' if n == 1 else 'days'}", S)


# -- declarations -------------------------------------------------------------------------


def test_fields_block_with_every_type() -> None:
    decl = only("fields { city: text, nps: number\n born: time vip: bool interests: list }")
    assert decl == ast.FieldsBlock(
        (
            ast.FieldDecl("city", "text", S),
            ast.FieldDecl("nps", "number", S),
            ast.FieldDecl("born", "time", S),
            ast.FieldDecl("vip", "bool", S),
            ast.FieldDecl("interests", "list", S),
        ),
        S,
    )


def test_score_block_lines_caps_decay_clamp() -> None:
    decl = only(
        """score {
            on email.click +3 max 15 per 1 day
            on form.submit 10 max 30 total once
            on email.bounce -5 where event.kind == "hard"
            decay half-life 30 days
            clamp -10 to 100
        }"""
    )
    assert decl == ast.ScoreBlock(
        "score",
        (
            ast.ScoreLine("email.click", 3, None, ast.CapPerWindow(15, days(1), S), False, S),
            ast.ScoreLine("form.submit", 10, None, ast.CapTotal(30, S), True, S),
            ast.ScoreLine(
                "email.bounce",
                -5,
                ast.Compare("==", ast.EventAttr(("kind",), S), ast.String("hard", S), S),
                None,
                False,
                S,
            ),
        ),
        ast.Decay(days(30), S),
        ast.Clamp(-10, 100, S),
        S,
    )


def test_named_score_and_valuation_and_segment() -> None:
    file = parse(
        "score fit { on contact.updated +20 }\n"
        "valuation { new within 15 days  dormant within 120 days }\n"
        'segment dormidos = valuation is "dormant"\n',
        "t.rules",
    )
    score, valuation, segment = file.decls
    assert isinstance(score, ast.ScoreBlock) and score.name == "fit"
    assert valuation == ast.ValuationBlock(
        (ast.ValuationClass("new", days(15), S), ast.ValuationClass("dormant", days(120), S)), S
    )
    assert segment == ast.SegmentDecl(
        "dormidos", ast.Compare("==", name("valuation"), ast.String("dormant", S), S), S
    )


def test_named_rule_with_priority_and_every_action() -> None:
    decl = only(
        """rule "Everything" priority -2
        on purchase where event.amount >= 100
        then tag "T", untag "U", add to group "G", remove from group "H",
             set nps = 5 + 1, clear city, add 2 to fit, subtract 1 from score,
             suspend, reactivate, unsubscribe from campaign "C" channel email,
             unsubscribe, track "contacted" for campaign "C" offer "O",
             enter flow onboarding, exit flow onboarding, notify sales "Call",
             create task "Follow up" for sales due in 2 days,
             send sms "hi" from campaign "C", call webhook "https://x.example/h",
             do crm.sync "a" 3
        """
    )
    assert isinstance(decl, ast.RuleDecl)
    assert decl.name == "Everything" and decl.priority == -2
    assert decl.trigger == ast.OnEvent(
        "purchase", ast.Compare(">=", ast.EventAttr(("amount",), S), num(100), S), S
    )
    assert decl.actions == (
        ast.TagAction("tag", "T", S),
        ast.TagAction("untag", "U", S),
        ast.GroupAction("add_to_group", "G", S),
        ast.GroupAction("remove_from_group", "H", S),
        ast.SetAction("nps", ast.Arith("+", num(5), num(1), S), S),
        ast.ClearAction("city", S),
        ast.ScoreAction("add_score", num(2), "fit", S),
        ast.ScoreAction("subtract_score", num(1), "score", S),
        ast.StatusAction("suspend", S),
        ast.StatusAction("reactivate", S),
        ast.UnsubscribeAction("campaign", "C", "email", S),
        ast.UnsubscribeAction("all", None, None, S),
        ast.TrackAction("contacted", "C", "O", S),
        ast.FlowAction("enter_flow", "onboarding", S),
        ast.FlowAction("exit_flow", "onboarding", S),
        ast.NotifyAction("sales", "Call", S),
        ast.TaskAction("Follow up", "sales", days(2), S),
        ast.SendAction("sms", "hi", "C", S),
        ast.WebhookAction("https://x.example/h", S),
        ast.DoAction("crm.sync", (ast.String("a", S), num(3)), S),
    )
    assert decl.mode == ast.Mode()


def test_engine_made_triggers() -> None:
    text = (
        'on score change where score >= 5 then tag "a"\n'
        'on fit change then tag "b"\n'
        'on segment enter hot then tag "c"\n'
        'on segment exit hot where tagged "c" then untag "c"\n'
        'on tag added "VIP" then notify sales\n'
        "on tag added then notify sales\n"
    )
    triggers = [d.trigger for d in parse(text, "t.rules").decls if isinstance(d, ast.RuleDecl)]
    assert triggers == [
        ast.OnScoreChange("score", ast.Compare(">=", name("score"), num(5), S), S),
        ast.OnScoreChange("fit", None, S),
        ast.OnSegment("enter", "hot", None, S),
        ast.OnSegment("exit", "hot", ast.Tagged("c", S), S),
        ast.OnTagAdded("VIP", None, S),
        ast.OnTagAdded(None, None, S),
    ]


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ("", ast.Mode()),
        ("once", ast.Mode("once")),
        ("each time", ast.Mode("each")),
        (
            "re-arm when score < 40",
            ast.Mode("rearm", ast.Compare("<", name("score"), num(40), S)),
        ),
        ("at most once per 1 day", ast.Mode("edge", None, days(1))),
        ("once at most once per 2 days", ast.Mode("once", None, days(2))),
    ],
)
def test_firing_modes(written: str, mode: ast.Mode) -> None:
    decl = only(f"when score >= 50 then notify sales {written}")
    assert isinstance(decl, ast.RuleDecl) and decl.mode == mode


def test_anonymous_rules_keep_their_line() -> None:
    file = parse('\n\nwhen tagged "a" then tag "b"', "t.rules")
    rule = file.decls[0]
    assert isinstance(rule, ast.RuleDecl) and rule.name is None and rule.span.line == 3


# -- conditions ---------------------------------------------------------------------------


def test_precedence_of_and_or_not_and_arithmetic() -> None:
    assert condition('not tagged "a" or score + 2 * 3 > 1 and city is empty') == ast.Or(
        (
            ast.Not(ast.Tagged("a", S), S),
            ast.And(
                (
                    ast.Compare(
                        ">",
                        ast.Arith("+", name("score"), ast.Arith("*", num(2), num(3), S), S),
                        num(1),
                        S,
                    ),
                    ast.IsEmpty(name("city"), False, S),
                ),
                S,
            ),
        ),
        S,
    )


def test_parentheses_and_flattening() -> None:
    assert condition('(tagged "a" or tagged "b") and (x > 1 and y > 2)') == ast.And(
        (
            ast.Or((ast.Tagged("a", S), ast.Tagged("b", S)), S),
            ast.Compare(">", name("x"), num(1), S),
            ast.Compare(">", name("y"), num(2), S),
        ),
        S,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x between 1 and 5", ast.Between(name("x"), num(1), num(5), False, S)),
        ("x not between 1 and 5", ast.Between(name("x"), num(1), num(5), True, S)),
        (
            'plan in ["a", "b"]',
            ast.InList(
                name("plan"), ast.ListLit((ast.String("a", S), ast.String("b", S)), S), False, S
            ),
        ),
        ("plan not in []", ast.InList(name("plan"), ast.ListLit((), S), True, S)),
        (
            'city startswith "Bo"',
            ast.TextMatch("startswith", name("city"), ast.String("Bo", S), False, S),
        ),
        (
            'city not matches "^x"',
            ast.TextMatch("matches", name("city"), ast.String("^x", S), True, S),
        ),
        ("city is not empty", ast.IsEmpty(name("city"), True, S)),
        ('status is not "active"', ast.Compare("!=", name("status"), ast.String("active", S), S)),
        ('in group "G"', ast.InGroup("G", S)),
        ("in segment hot", ast.InSegment("hot", S)),
        (
            "consent.email == false",
            ast.Compare("==", ast.Consent("email", S), ast.Bool(False, S), S),
        ),
        ("last_activity within 15 days", ast.Within(name("last_activity"), days(15), False, S)),
        ("created older than 1 day", ast.Within(name("created"), days(1), True, S)),
        (
            'had email.open where event.message == "w" within 4 days',
            ast.Had(
                "email.open",
                ast.Compare("==", ast.EventAttr(("message",), S), ast.String("w", S), S),
                days(4),
                S,
            ),
        ),
        (
            "count email.click within 7 days >= 3",
            ast.Compare(">=", ast.Count("email.click", None, days(7), S), num(3), S),
        ),
        ("x > -2.5", ast.Compare(">", name("x"), num(-2.5), S)),
        ("x > -y", ast.Compare(">", name("x"), ast.Neg(name("y"), S), S)),
        (
            "born < 2026-01-01T09:00:00Z",
            ast.Compare("<", name("born"), ast.TimeLit(1767258000.0, "2026-01-01T09:00:00Z", S), S),
        ),
        (
            'city == "Bogot\\u00e1 \\"D.C.\\""',
            ast.Compare("==", name("city"), ast.String('Bogotá "D.C."', S), S),
        ),
        ('ciudad == "Bogotá"', ast.Compare("==", name("ciudad"), ast.String("Bogotá", S), S)),
    ],
)
def test_condition_forms(text: str, expected: ast.Expr) -> None:
    assert condition(text) == expected


def test_keywords_are_names_where_no_keyword_fits() -> None:
    # `score` in a condition, `count` after a dot, `group` as a field: the contextual
    # lexer treats a keyword as a keyword only where one can stand.
    assert condition("score >= 5") == ast.Compare(">=", name("score"), num(5), S)
    decl = only('on purchase where event.count > 1 then tag "a"')
    assert isinstance(decl, ast.RuleDecl) and isinstance(decl.trigger, ast.OnEvent)
    assert decl.trigger.where == ast.Compare(">", ast.EventAttr(("count",), S), num(1), S)
    fields = only("fields { group: text  tag: text }")
    assert isinstance(fields, ast.FieldsBlock)
    assert [f.name for f in fields.fields] == ["group", "tag"]


def test_comments_and_blank_lines_are_ignored() -> None:
    text = '# a comment\n\nwhen tagged "a"   # trailing\n  then tag "b" # more\n'
    assert len(parse(text, "t.rules").decls) == 1


# -- errors -------------------------------------------------------------------------------


def test_error_shape_file_line_column_line_and_caret() -> None:
    (message,) = errors('when score >= 5 then tag "x"\nwehn score >= 6 then tag "y"')
    assert message == (
        "t.rules:2:1: error: unexpected `wehn` (did you mean 'when'?)\n"
        '    wehn score >= 6 then tag "y"\n'
        "    ^^^^"
    )


def test_every_error_of_the_file_at_once() -> None:
    found = errors(
        'wehn score >= 5 then tag "x"\n'
        'when score >= 5 then tag "x"\n'
        'when score >= then tag "z"\n'
        "fields { city: txt }\n"
        'when score >= 15 dias then tag "x"\n'
    )
    assert [m.split(": error: ")[0] for m in found] == [
        "t.rules:1:1",
        "t.rules:3:15",
        "t.rules:4:16",
        "t.rules:5:18",
    ]
    assert "did you mean 'text'" in found[2]
    assert "did you mean 'days'" in found[3]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('when score >= 5 tag "x"', "missing `then` before the actions"),
        ('when score = 5 then tag "x"', "to compare, write `==`"),
        ("segment a == score > 1", "write one `=` here"),
        ('when score >= 5 then tag "x', 'unterminated text: the closing `"` is missing'),
        ("when score >= 5 then tag 'x'", "double quotes"),
        ("score {\n on email.open +1\n", "the file ends too early; expected"),
        ("when", "the file ends too early; expected a condition"),
        ('when foo.bar > 1 then tag "x"', "only `event.ATTRIBUTE` and `consent.CHANNEL`"),
        ('when x > 1 then tag "x" once each time', "a rule has one firing mode"),
        ("when x > 1 then notify sales }", "no block is open here"),
        ('when @ then tag "x"', "unexpected character '@'"),
        ('when x > 1 then tag "\\q"', "unknown escape"),
        ("when x > " + "9" * 40 + ' then tag "a"', "more than 30 digits"),
        ('when created > 2026-13-01 then tag "a"', "not a valid time"),
        ("score { clamp 10 to 1 }", "clamp range is empty"),
        ("score { decay half-life 1 day decay half-life 2 days }", "at most one `decay`"),
        ('rule "" when x > 1 then tag "a"', "rule name cannot be empty"),
        ('when event > 1 then tag "a"', "write `event.ATTRIBUTE`"),
        ('when x > 1 then tag "' + "a" * 10_001 + '"', "text longer than"),
        ("on score change then do crm.sync score", "to pass its value to `do`, write `(score)`"),
        (
            'on score change then do crm.sync valuation, tag "x"',
            "a bare `valuation` here starts a new `valuation` declaration",
        ),
    ],
)
def test_error_messages(text: str, fragment: str) -> None:
    found = errors(text)
    assert any(fragment in message for message in found), found
    for message in found:
        assert message.startswith("t.rules:")


def test_nesting_limit() -> None:
    deep = "when " + "not " * (MAX_NESTING + 10) + 'tagged "a" then tag "b"'
    assert "nested more than" in errors(deep)[0]
    parse("when " + "(" * 20 + "x" + ")" * 20 + ' > 1 then tag "a"', "t.rules")
    assert (
        "nested more than" in errors("when " + "(" * 500 + "x" + ")" * 500 + ' > 1 then tag "a"')[0]
    )


def test_size_limit() -> None:
    with pytest.raises(LimitExceededError):
        parse(" " * (MAX_RULES_CHARS + 1), "t.rules")


_ALPHABET = st.sampled_from(
    [
        *'when then on score tag "x" >= == 5 and or not ( ) { } , . - + event.url fields :',
        *["when", "then", "on", "score", "tag", '"x"', ">=", "5", "\n", " ", "within", "days"],
    ]
)


@given(st.lists(_ALPHABET, max_size=40).map(" ".join))
def test_fuzz_only_documented_errors(text: str) -> None:
    try:
        parse(text, "f.rules")
    except RulesSyntaxError as exc:
        assert exc.diagnostics and all(d.file == "f.rules" for d in exc.diagnostics)


@given(st.text(max_size=200))
def test_fuzz_any_text(text: str) -> None:
    try:
        parse(text, "f.rules")
    except RulesSyntaxError as exc:
        for diagnostic in exc.diagnostics:
            assert diagnostic.span.line >= 1
            diagnostic.format()


_EXAMPLE = (Path(__file__).parent.parent / "examples" / "engagement.rules").read_text("utf-8")


@given(st.data())
def test_fuzz_damaged_example(data: st.DataObject) -> None:
    """Cut, duplicate or insert pieces of a real rules file: only syntax errors come out."""
    text = _EXAMPLE
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        width = data.draw(st.integers(0, 12))
        insert = data.draw(st.sampled_from(["", "(", '"', "}", "{", " and ", "then", "\n", "#"]))
        text = text[:at] + insert + text[at + width :]
    try:
        parse(text, "f.rules")
    except RulesSyntaxError as exc:
        assert all(d.span.line >= 1 for d in exc.diagnostics)

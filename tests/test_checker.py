"""The semantic checker: every diagnostic it can give, where it points, and what it says.

One case per place in ``engage/dsl/checker.py`` that reports a problem: each case is a
small rules text that the parser accepts, and the test pins the one diagnostic it gets
(severity, line, column, a distinctive part of the message, the did-you-mean). Then: a
file with several problems gets all of them at once, in the order the checker's passes
emit them; an error renders as ``FILE:LINE:COL: error: ...`` with the line and a caret;
warnings leave the rules runnable; clean files (the documentation's examples among
them) get no diagnostic at all. Three checks cannot be reached from text (the parser
refuses those inputs first); they are driven with a syntax tree edited by hand.

The last group are problems this file found in the checker when it was written (a crash
on long segment chains, wrong source lines after a form feed, repeated or misleading
messages, decaying scores compared with non-constants); they are fixed and stay here as
regression tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import attrs
import pytest

import engage
from engage.dsl import ast
from engage.dsl.checker import check
from engage.dsl.parser import parse
from engage.errors import Diagnostic, RulesCheckError, RulesError

NAME = "t.rules"
DOCS = Path(__file__).resolve().parent.parent / "docs"


def problems(text: str) -> tuple[Diagnostic, ...]:
    """Every diagnostic of ``text``: the check error's if it has errors, else the warnings.

    A syntax error is not caught: every text here must get past the parser.
    """
    try:
        rules = engage.compile(text, name=NAME)
    except RulesCheckError as exc:
        return exc.diagnostics
    return rules.warnings


def only(text: str) -> Diagnostic:
    """The single diagnostic of ``text`` (it must have exactly one)."""
    found = problems(text)
    assert len(found) == 1, "\n".join(d.format() for d in found)
    return found[0]


def checked(rules_file: ast.RulesFile) -> tuple[Diagnostic, ...]:
    """The diagnostics of a syntax tree given to the checker directly."""
    with pytest.raises(RulesCheckError) as caught:
        check([rules_file])
    return caught.value.diagnostics


class Case(NamedTuple):
    """A text with one problem, and the diagnostic the checker must give for it."""

    text: str
    severity: str
    line: int
    column: int
    fragment: str
    suggestion: str | None = None


def error(text: str, at: tuple[int, int], fragment: str, suggestion: str | None = None) -> Case:
    """An error expected at ``at`` (line, column)."""
    return Case(text, "error", *at, fragment, suggestion)


def warning(text: str, at: tuple[int, int], fragment: str, suggestion: str | None = None) -> Case:
    """A warning expected at ``at`` (line, column)."""
    return Case(text, "warning", *at, fragment, suggestion)


def assert_diagnostic(found: Diagnostic, case: Case) -> None:
    assert (found.severity, found.span.line, found.span.column) == (
        case.severity,
        case.line,
        case.column,
    ), found.format()
    assert case.fragment in found.message, found.format()
    assert found.suggestion == case.suggestion, found.format()
    if case.suggestion is not None:
        assert found.message.endswith(f"(did you mean {case.suggestion!r}?)")
    assert found.file == NAME
    assert found.source_line == case.text.splitlines()[case.line - 1]


# -- one case per place the checker reports ------------------------------------------------

DECAYING = "score { on email.open +1 decay half-life 7 days }\n"

CASES = [
    # Declarations: duplicates and names that are taken.
    pytest.param(
        error(
            'segment hot = tagged "a"\nsegment hot = tagged "b"',
            (2, 1),
            "segment 'hot' is declared twice",
        ),
        id="segment declared twice",
    ),
    pytest.param(
        error(
            "valuation { new within 1 day }\nvaluation { old within 2 days }",
            (2, 1),
            "only one `valuation` block is allowed",
        ),
        id="second valuation block",
    ),
    pytest.param(
        error("fields { city: text, city: text }", (1, 22), "field 'city' is declared twice"),
        id="field declared twice",
    ),
    pytest.param(
        error(
            "fields {\n    plan: text\n    status: text\n}",
            (3, 5),
            "'status' is a built-in name and cannot be a field",
        ),
        id="built-in name as a field",
    ),
    pytest.param(
        error(
            "fields { count: number }",
            (1, 10),
            "'count' cannot be a field name: in a condition `count` starts "
            "`count EVENT within D`, so the field could never be read; "
            "choose another name, such as 'count_total'",
        ),
        id="count as a field",
    ),
    pytest.param(
        error(
            "score { on email.open +1 }\nfields { score: number }",
            (2, 10),
            "'score' is already a score",
        ),
        id="field named like a score",
    ),
    pytest.param(
        error(
            "score { on email.open +1 }\nscore { on email.click +1 }",
            (2, 1),
            "score 'score' is declared twice",
        ),
        id="score declared twice",
    ),
    pytest.param(
        error(
            "score created { on email.open +1 }",
            (1, 1),
            "'created' is a built-in name and cannot be a score",
        ),
        id="built-in name as a score",
    ),
    pytest.param(
        error(
            "fields { n: number }\nscore count { on email.open +1 }",
            (2, 1),
            "'count' cannot be a score name: in a condition `count` starts "
            "`count EVENT within D`, so the score could never be read; "
            "choose another name, such as 'count_total'",
        ),
        id="count as a score",
    ),
    pytest.param(
        error(
            "fields { fit: number }\nscore fit { on form.submit +20 }",
            (2, 1),
            "'fit' is already a field",
        ),
        id="score named like a field",
    ),
    # Recency classes.
    pytest.param(
        error(
            "valuation {\n    hot within 2 days\n    expired within 9 days\n}",
            (3, 5),
            "'expired' is a built-in class; choose another name",
        ),
        id="built-in class name",
    ),
    pytest.param(
        error(
            "valuation {\n    hot within 2 days\n    hot within 9 days\n}",
            (3, 5),
            "class 'hot' is declared twice",
        ),
        id="class declared twice",
    ),
    pytest.param(
        error(
            "valuation {\n    warm within 5 days\n    hot within 2 days\n}",
            (3, 16),
            "recency classes must be written from the shortest window to the longest",
        ),
        id="recency classes out of order",
    ),
    pytest.param(
        error("valuation { }", (1, 1), "a `valuation` block needs at least one class"),
        id="empty valuation block",
    ),
    # Score lines.
    pytest.param(
        error(
            "score {\n    on email.click +3 max 0 per 1 day\n}",
            (2, 23),
            "a cap must be a positive number of points",
        ),
        id="cap per window of zero points",
    ),
    pytest.param(
        error(
            "score {\n    on form.submit +10 max 0 total\n}",
            (2, 24),
            "a cap must be a positive number of points",
        ),
        id="total cap of zero points",
    ),
    # Segments and rules.
    pytest.param(
        error(
            'segment a = in segment b and tagged "x"\nsegment b = in segment a',
            (1, 1),
            "segments depend on each other in a cycle: a -> b -> a",
        ),
        id="segments in a cycle",
    ),
    pytest.param(
        error(
            'rule "Hot" when tagged "a" then tag "b"\n'
            'rule "Warm" when tagged "b" then tag "c"\n'
            'rule "Hot" when tagged "c" then tag "d"',
            (3, 6),
            "rule 'Hot' is declared twice (first at line 1)",
        ),
        id="rule name declared twice",
    ),
    pytest.param(
        error(
            'score { on email.open +1 }\non scroe change then tag "x"',
            (2, 1),
            "unknown score 'scroe' in `on scroe change`",
            "score",
        ),
        id="unknown score in on-change trigger",
    ),
    pytest.param(
        error(
            "score { on email.open +1 }\n"
            'when score >= 5 and last_activity within 3 days then tag "x" each time',
            (2, 62),
            "`each time` cannot be used on a condition that changes by time alone",
        ),
        id="each time with within",
    ),
    pytest.param(
        error(
            DECAYING + 'when score >= 5 then tag "x" each time',
            (2, 30),
            "`each time` cannot be used on a condition that changes by time alone",
        ),
        id="each time with a decaying score",
    ),
    pytest.param(
        error(
            'when count email.open within 3 days >= 2 then tag "x" each time',
            (1, 55),
            "leave the mode out to fire when it becomes true",
        ),
        id="each time with count",
    ),
    # Actions.
    pytest.param(
        error(
            "fields { city: text }\non form.submit then set city = 5",
            (2, 32),
            "cannot set 'city' (text) to a number value",
        ),
        id="set a text field to a number",
    ),
    pytest.param(
        error(
            "score { on email.open +1 }\non email.open then add 1 to scroe",
            (2, 20),
            "unknown score 'scroe'",
            "score",
        ),
        id="unknown score in add",
    ),
    pytest.param(
        error(
            "score { on email.open +1 }\nfields { city: text }\n"
            "on email.open then add city to score",
            (3, 24),
            "points must be a number, not text",
        ),
        id="add text points",
    ),
    pytest.param(
        error(
            'on email.open then set status = "x"',
            (1, 20),
            "'status' is built in and cannot be set by a rule",
        ),
        id="set a built-in",
    ),
    pytest.param(
        error(
            'fields { city: text }\non form.submit then set cty = "Cali"',
            (2, 21),
            "unknown field 'cty'; declare it in a `fields` block",
            "city",
        ),
        id="set an unknown field",
    ),
    pytest.param(
        error(
            "fields { city: text }\non email.bounce then clear ctiy",
            (2, 22),
            "unknown field 'ctiy'; declare it in a `fields` block",
            "city",
        ),
        id="clear an unknown field",
    ),
    pytest.param(
        error(
            'when consent.emial then tag "x"',
            (1, 6),
            "unknown channel 'emial'",
            "email",
        ),
        id="unknown consent channel",
    ),
    pytest.param(
        error(
            "on email.bounce then unsubscribe channel smss",
            (1, 22),
            "unknown channel 'smss'",
            "sms",
        ),
        id="unknown unsubscribe channel",
    ),
    pytest.param(
        error(
            'segment hot = tagged "hot"\nwhen in segment hto then tag "x"',
            (2, 6),
            "unknown segment 'hto'",
            "hot",
        ),
        id="unknown segment in a condition",
    ),
    pytest.param(
        error(
            'segment hot = tagged "hot"\non segment enter hto then tag "x"',
            (2, 1),
            "unknown segment 'hto'",
            "hot",
        ),
        id="unknown segment in a trigger",
    ),
    # Durations.
    pytest.param(
        error(
            'when last_activity within 0 days then tag "x"',
            (1, 27),
            "a duration must be longer than zero",
        ),
        id="zero window of within",
    ),
    pytest.param(
        error(
            'when tagged "a" then tag "b" at most once per 0 hours',
            (1, 47),
            "a duration must be longer than zero",
        ),
        id="zero cooldown",
    ),
    pytest.param(
        error(
            'on form.submit then create task "Call" due in 0 days',
            (1, 47),
            "a duration must be longer than zero",
        ),
        id="zero task due time",
    ),
    pytest.param(
        error(
            "score { on email.open +1 decay half-life 0 days }",
            (1, 42),
            "a duration must be longer than zero",
        ),
        id="zero half-life",
    ),
    # Names.
    pytest.param(
        error(
            'score { on email.open +1 }\nwhen scroe >= 5 then tag "x"',
            (2, 6),
            "unknown name 'scroe'",
            "score",
        ),
        id="unknown name with did-you-mean",
    ),
    pytest.param(
        error(
            'segment hot = tagged "hot"\nwhen hot then tag "x"',
            (2, 6),
            "unknown name 'hot'; to test membership write `in segment hot`",
        ),
        id="segment name used as a value",
    ),
    pytest.param(
        error(
            'when score >= 5 then tag "x"',
            (1, 6),
            "unknown name 'score'; declare the default score with a `score { ... }` block",
        ),
        id="default score never declared",
    ),
    pytest.param(
        error(
            DECAYING + 'when score + 1 >= 5 then tag "x"',
            (2, 6),
            "'score' decays over time: compare it directly with a number (`score >= 5`)",
        ),
        id="decaying score in arithmetic",
    ),
    pytest.param(
        error(
            'when event.url contains "/pricing" then tag "x"',
            (1, 6),
            "event attributes can only be read in `on` rules, score lines "
            "and `had`/`count` filters",
        ),
        id="event attribute in a when rule",
    ),
    pytest.param(
        error(
            'segment s = event.kind == "hard"',
            (1, 13),
            "event attributes can only be read in `on` rules",
        ),
        id="event attribute in a segment",
    ),
    pytest.param(
        error(
            'on email.open then tag "x" re-arm when event.url contains "a"',
            (1, 40),
            "event attributes can only be read in `on` rules",
        ),
        id="event attribute in a re-arm condition",
    ),
    pytest.param(
        error(
            'when last_activity > now then tag "x"',
            (1, 22),
            "`now` can only be used through `X within D` or `X older than D`",
        ),
        id="now in a condition",
    ),
    # Types.
    pytest.param(
        error(
            'fields { city: text }\nwhen -city == 1 then tag "x"',
            (2, 6),
            "cannot negate a text",
        ),
        id="negate a text",
    ),
    pytest.param(
        error(
            'fields { city: text, n: number }\nwhen city + n > 1 then tag "x"',
            (2, 6),
            "cannot compute text + number",
        ),
        id="add a text and a number",
    ),
    pytest.param(
        error(
            'fields { nps: number }\nwhen nps between 1 and "5" then tag "x"',
            (2, 24),
            "cannot compare a number with a text",
        ),
        id="between bound of another type",
    ),
    pytest.param(
        error(
            'fields { vip: bool }\nwhen vip between false and true then tag "x"',
            (2, 6),
            "`between` needs numbers, times or text, not a bool",
        ),
        id="between on a bool",
    ),
    pytest.param(
        error(
            'fields { nps: number }\nwhen nps in [1, "two"] then tag "x"',
            (2, 17),
            "cannot compare a number with a text",
        ),
        id="list item of another type",
    ),
    pytest.param(
        error(
            'fields { nps: number }\nwhen nps contains "9" then tag "x"',
            (2, 6),
            "`contains` needs text, not a number",
        ),
        id="contains on a number",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city startswith 5 then tag "x"',
            (2, 22),
            "the pattern of `startswith` must be text",
        ),
        id="pattern that is not text",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city matches "(a)\\\\1" then tag "x"',
            (2, 19),
            "invalid pattern: invalid escape sequence: \\1 "
            "(back-references and look-around are not supported)",
        ),
        id="pattern with a back-reference",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city not matches "(?=x)y" then tag "x"',
            (2, 23),
            "(back-references and look-around are not supported)",
        ),
        id="pattern with a look-ahead",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city matches "[a-" then tag "x"',
            (2, 19),
            "invalid pattern: missing ]: [a-",
        ),
        id="pattern with a syntax error",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city matches "' + "a" * 1001 + '" then tag "x"',
            (2, 19),
            "pattern longer than 1000 characters",
        ),
        id="pattern too long",
    ),
    pytest.param(
        error(
            'fields { nps: number }\nwhen nps older than 3 days then tag "x"',
            (2, 6),
            "`within`/`older than` need a time, not a number",
        ),
        id="older than on a number",
    ),
    pytest.param(
        error(
            'fields { nps: number }\nwhen nps then tag "x"',
            (2, 6),
            "a condition must be true or false, not a number; did you mean `nps is not empty`?",
        ),
        id="bare number field as a condition",
    ),
    pytest.param(
        error(
            'fields { a: number }\nwhen tagged "x" and a + 1 then tag "y"',
            (2, 21),
            "a condition must be true or false, not a number",
        ),
        id="arithmetic as a condition",
    ),
    pytest.param(
        error(
            DECAYING + 'score fit { on form.submit +20 }\nwhen score >= fit then tag "x"',
            (3, 6),
            "'score' decays over time: compare it with a number",
        ),
        id="decaying score compared with a score",
    ),
    pytest.param(
        error(
            'fields { city: text }\nwhen city == 5 then tag "x"',
            (2, 6),
            "cannot compare a text with a number",
        ),
        id="compare a text with a number",
    ),
    pytest.param(
        error(
            'when tags > ["a"] then tag "x"',
            (1, 6),
            "`>` does not order lists",
        ),
        id="order lists",
    ),
    pytest.param(
        error(
            'when consent.email >= false then tag "x"',
            (1, 6),
            "`>=` does not order true/false values",
        ),
        id="order bools",
    ),
    pytest.param(
        error(
            'when valuation is "dormnt" then tag "x"',
            (1, 19),
            "valuation is never 'dormnt'; it is one of 'new', 'frequent', 'dormant', "
            "'inactive', 'expired', 'discarded'",
            "dormant",
        ),
        id="unknown recency class",
    ),
    pytest.param(
        error(
            'valuation { hot within 5 days }\nwhen "hto" == valuation then tag "x"',
            (2, 6),
            "valuation is never 'hto'; it is one of 'hot', 'inactive', 'expired', 'discarded'",
            "hot",
        ),
        id="unknown own recency class",
    ),
    pytest.param(
        error(
            'when status != "suspendd" then tag "x"',
            (1, 16),
            "status is never 'suspendd'; it is one of 'active', 'suspended'",
            "suspended",
        ),
        id="unknown status value",
    ),
    pytest.param(
        error(
            'when status == "paused" then tag "x"',
            (1, 16),
            "status is never 'paused'; it is one of 'active', 'suspended'",
        ),
        id="unknown status value without a close one",
    ),
    # Warnings: the rules still run.
    pytest.param(
        warning(
            'score { on email.open +1 }\nwhen score > 5 and score < 3 then tag "x"',
            (2, 6),
            "this condition can never hold: no value of 'score' satisfies all its bounds",
        ),
        id="bounds that exclude each other",
    ),
    pytest.param(
        warning(
            'fields { nps: number }\non form.submit where 9 <= nps and nps == 3 then tag "x"',
            (2, 22),
            "no value of 'nps' satisfies all its bounds",
        ),
        id="bounds that exclude each other, written backwards",
    ),
    pytest.param(
        warning(
            'fields { nps: number }\nwhen nps between 5 and 1 then tag "x"',
            (2, 6),
            "this condition can never hold: the low bound is above the high bound",
        ),
        id="between with its bounds swapped",
    ),
    pytest.param(
        warning(
            'on email.opne then tag "x"',
            (1, 1),
            "event type 'email.opne' is not one engage knows",
            "email.open",
        ),
        id="typo in an on trigger",
    ),
    pytest.param(
        warning(
            "score {\n    on email.open +1\n    on email.clck +3\n}",
            (3, 5),
            "event type 'email.clck' is not one engage knows",
            "email.click",
        ),
        id="typo in a score line",
    ),
    pytest.param(
        warning(
            "segment visitors = had web.vist within 3 days",
            (1, 20),
            "event type 'web.vist' is not one engage knows",
            "web.visit",
        ),
        id="typo in had",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_each_checker_diagnostic(case: Case) -> None:
    assert_diagnostic(only(case.text), case)


def test_a_check_error_is_a_rules_error_that_carries_the_warnings_too() -> None:
    """Hosts catch ``RulesError``; the warnings found before the error ride along."""
    with pytest.raises(engage.RulesError) as caught:
        engage.compile('on email.opne then tag "x"\nwhen cty == "Cali" then tag "y"', name=NAME)
    assert type(caught.value) is RulesCheckError
    assert [(d.severity, d.span.line) for d in caught.value.diagnostics] == [
        ("error", 2),
        ("warning", 1),
    ]
    assert [d.message for d in caught.value.errors] == ["unknown name 'cty'"]
    assert "t.rules:1:1: warning: event type 'email.opne'" in str(caught.value)


# -- checks the parser never lets through ---------------------------------------------------


def _swap_clamp(decl: ast.Decl) -> ast.Decl:
    assert isinstance(decl, ast.ScoreBlock) and decl.clamp is not None
    return attrs.evolve(decl, clamp=attrs.evolve(decl.clamp, low=10, high=0))


def _infinite_points(decl: ast.Decl) -> ast.Decl:
    assert isinstance(decl, ast.ScoreBlock)
    return attrs.evolve(decl, lines=(attrs.evolve(decl.lines[0], points=math.inf),))


def _no_actions(decl: ast.Decl) -> ast.Decl:
    assert isinstance(decl, ast.RuleDecl)
    return attrs.evolve(decl, actions=())


UNREACHABLE = [
    pytest.param(
        _swap_clamp,
        error(
            "score {\n    on email.open +1\n    clamp 0 to 10\n}",
            (3, 5),
            "clamp: the low bound is above the high bound",
        ),
        id="clamp with low above high",
    ),
    pytest.param(
        _infinite_points,
        error("score {\n    on email.open +1\n}", (2, 5), "points must be a finite number"),
        id="infinite points",
    ),
    pytest.param(
        _no_actions,
        error(
            'fields { n: number }\nrule "r" when n > 1 then tag "b"',
            (2, 1),
            "a rule needs at least one action after `then`",
        ),
        id="rule without actions",
    ),
]


@pytest.mark.parametrize(("change", "case"), UNREACHABLE)
def test_checks_behind_the_parser_still_report(
    change: Callable[[ast.Decl], ast.Decl], case: Case
) -> None:
    """The parser refuses ``clamp 10 to 0``, huge numbers and a bare ``then``; the checker
    keeps its own checks for trees built another way, and they must still point right.

    The last declaration of the parsed text is edited into what the parser never builds.
    """
    rules_file = parse(case.text, NAME)
    *others, last = rules_file.decls
    edited = attrs.evolve(rules_file, decls=(*others, change(last)))
    (found,) = checked(edited)
    assert_diagnostic(found, case)


# -- many problems at once, and how one looks ---------------------------------------------

SEVERAL = """\
score { on email.open +1 max 0 total }
fields { status: text }
segment hot = scroe > 1
when tagged "a" then add 1 to fti
on email.opne then tag "x"
when nps >= 5 then tag "y"
"""


def test_every_problem_of_a_file_at_once_in_the_order_of_the_checker_passes() -> None:
    """Not sorted by line: declarations, then segments, rules, score lines, event types."""
    with pytest.raises(RulesCheckError) as caught:
        engage.compile(SEVERAL, name=NAME)
    found = [(d.span.line, d.span.column, d.severity, d.message) for d in caught.value.diagnostics]
    assert found == [
        (2, 10, "error", "'status' is a built-in name and cannot be a field"),
        (3, 15, "error", "unknown name 'scroe' (did you mean 'score'?)"),
        (4, 22, "error", "unknown score 'fti'"),
        (6, 6, "error", "unknown name 'nps'"),
        (1, 26, "error", "a cap must be a positive number of points"),
        (
            5,
            1,
            "warning",
            "event type 'email.opne' is not one engage knows (did you mean 'email.open'?)",
        ),
    ]
    assert len(caught.value.errors) == 5
    rendered = str(caught.value)
    heads = [line for line in rendered.splitlines() if line.startswith(NAME)]
    assert [head.split(": ")[0] for head in heads] == [
        "t.rules:2:10",
        "t.rules:3:15",
        "t.rules:4:22",
        "t.rules:6:6",
        "t.rules:1:26",
        "t.rules:5:1",
    ]


def test_problems_in_several_files_name_their_own_file(tmp_path: Path) -> None:
    first = tmp_path / "a.rules"
    first.write_text('fields { n: number }\nwhen scroe > 1 then tag "x"\n', "utf-8")
    second = tmp_path / "b.rules"
    second.write_text(
        "\n\nscore {\n    on email.open +1 max 0 total\n    on email.clck +2\n}\n", "utf-8"
    )
    with pytest.raises(RulesCheckError) as caught:
        engage.load(first, second)
    found = [
        (Path(d.file).name, d.span.line, d.span.column, d.severity, d.source_line)
        for d in caught.value.diagnostics
    ]
    assert found == [
        ("a.rules", 2, 6, "error", 'when scroe > 1 then tag "x"'),
        ("b.rules", 4, 22, "error", "    on email.open +1 max 0 total"),
        ("b.rules", 5, 5, "warning", "    on email.clck +2"),
    ]


def test_error_shape_file_line_column_line_and_caret() -> None:
    with pytest.raises(RulesCheckError) as caught:
        engage.compile('fields { city: text }\nwhen cty == "Cali" then tag "x"', name=NAME)
    assert str(caught.value) == (
        "t.rules:2:6: error: unknown name 'cty' (did you mean 'city'?)\n"
        '    when cty == "Cali" then tag "x"\n'
        "         ^^^"
    )


def test_warning_shape_and_caret_under_the_whole_condition() -> None:
    (found,) = problems('fields { nps: number }\nwhen nps > 5 and nps < 3 then tag "x"')
    assert found.format() == (
        "t.rules:2:6: warning: this condition can never hold: no value of 'nps' "
        "satisfies all its bounds\n"
        '    when nps > 5 and nps < 3 then tag "x"\n'
        "         " + "^" * len("nps > 5 and nps < 3")
    )


# -- warnings do not stop the rules -------------------------------------------------------

WARNED = """\
score { on email.open +1 }
rule "never" when score > 5 and score < 3 then tag "never"
rule "typo" on email.opne then tag "typo"
rule "opened" on email.open then tag "opened"
"""


def test_warnings_ride_along_and_the_rules_still_run() -> None:
    rules = engage.compile(WARNED, name=NAME)
    assert [(w.severity, w.span.line) for w in rules.warnings] == [
        ("warning", 2),
        ("warning", 3),
    ]
    engine = engage.Engine(rules)
    actions = engine.ingest({"contact": "c", "type": "email.open", "at": "2026-01-05T10:00:00Z"})
    assert [(a.rule, a.action, a.args) for a in actions] == [("opened", "tag", ["opened"])]
    contact = engine.contact("c")
    assert contact is not None
    assert (contact.scores, contact.tags) == ({"score": 1}, ["opened"])


# -- clean files: no diagnostic at all -----------------------------------------------------

CLEAN = """\
# engagement.rules: a realistic file that must check without a word
fields {
    city: text
    plan: text
    nps: number
    born: time
    vip: bool
    interests: list
    last_seen: time
}

score {
    on email.open        +1
    on email.click       +3    max 15 per 1 day
    on web.visit         +2    where event.url contains "/pricing"
    on form.submit       +10   max 30 total
    on email.bounce      -5
    decay half-life 30 days
    clamp 0 to 100
}

score fit {
    on contact.updated   +20   where plan == "enterprise"   once
}

valuation {
    new within 15 days
    frequent within 45 days
    dormant within 120 days
}

segment sales_ready = score >= 50 and fit >= 20 and not tagged "Competitor"
segment vip_ready = in segment sales_ready and vip

rule "Hot lead" priority 10
    when score >= 5 and city in ["Cali", "Lima"] and nps between 1 and 10
    then notify sales "Ready", create task "Follow up" for sales due in 2 days, tag "Caliente"
    at most once per 1 day

rule "Pricing fan"
    when had web.visit where (event.url contains "/pricing") within 7 days
         and count email.click within 7 days >= 3
    then add 5 to fit

rule "Recent" when last_activity within 3 days and born older than 18 years
    and city matches "(?i)^bogot" and consent.email != false
    then send email "hello" from campaign "Onboarding"

when valuation is "dormant" then send email "we-miss-you" once
when status == "suspended" then untag "Caliente" re-arm when status == "active"
on email.bounce where event.kind == "hard" then track "Undeliverable", suspend
on score change where event.delta > 0 and score >= 5 then do crm.sync event.old event.new
on fit change then set last_seen = now, set nps = fit / 10
on segment enter sales_ready then add to group "Sales", enter flow nurture
on segment exit sales_ready then remove from group "Sales"
on tag added "VIP" then notify key_accounts, unsubscribe from campaign "Promo" channel sms
on form.submit then set city = event.city, clear interests, call webhook "https://x.example/h"

flow nurture {
    for segment sales_ready
    exit when not in segment sales_ready
    wait 1 day
    send email "nurture-1"
}
"""

CONTEXTUAL = [
    pytest.param(CLEAN, id="a realistic file"),
    pytest.param(
        "fields { email: text, group: text, max: number, tag: text, segment: text }\n"
        'when email contains "@" and group == "a" and max > 1 and tag is empty\n'
        '    and segment is not empty then tag "x", set email = "a@b.c"',
        id="contextual keywords as fields",
    ),
    pytest.param(
        "score email { on email.open +1 }\nscore group { on email.click +1 }\n"
        'when email >= 1 and group >= 1 then tag "x", add 1 to email',
        id="contextual keywords as scores",
    ),
    pytest.param(
        "fields { count_total: number }\n"
        'when count_total >= 1 and count email.open within 1 day >= 1 then tag "x"',
        id="the suggested name instead of count",
    ),
    pytest.param(
        DECAYING + 'when score >= 5 and -5 < score and score is not empty then tag "x"',
        id="a decaying score compared with constants",
    ),
    pytest.param(
        "fields { t: time }\n"
        "when t - created < 1 day and last_activity + 2 days > t then set t = now + 1 day",
        id="time arithmetic",
    ),
    pytest.param(
        'on my.custom.event where event.n > 1 and event.n < 100 then tag "x"',
        id="an event type far from any known one",
    ),
    pytest.param(
        'when tags contains "VIP" and not (tags contains "x") then notify sales each time',
        id="each time on a condition of state only",
    ),
]


@pytest.mark.parametrize("text", CONTEXTUAL)
def test_clean_files_get_no_diagnostic(text: str) -> None:
    assert problems(text) == ()


def _doc_examples() -> list[object]:
    params: list[object] = []
    for page in ("language.md", "time.md"):
        text = (DOCS / page).read_text("utf-8")
        for match in re.finditer(r"```rules\n(.*?)```", text, re.DOTALL):
            line = text.count("\n", 0, match.start()) + 1
            params.append(pytest.param(match.group(1), id=f"{page}:{line}"))
    return params


@pytest.mark.parametrize("text", _doc_examples())
def test_every_example_of_the_docs_checks_clean(text: str) -> None:
    assert problems(text) == ()


# -- problems this file found in the checker, fixed since (kept as regression tests) ----

FIXED_PROBLEMS = [
    pytest.param(
        error(
            "valuation { hot within 0 days }",
            (1, 24),
            "a duration must be longer than zero",
        ),
        id="zero-day recency window",
    ),
    pytest.param(
        error("fields { event: text }", (1, 10), "'event' cannot be a field name"),
        id="field named event",
    ),
    pytest.param(
        error("score consent { on email.open +1 }", (1, 1), "'consent' cannot be a score name"),
        id="score named consent",
    ),
    pytest.param(
        error(
            'when valuation in ["new", "dormnt"] then tag "x"',
            (1, 27),
            "valuation is never 'dormnt'",
            "dormant",
        ),
        id="unknown recency class in a list",
    ),
    pytest.param(
        error(
            'when status not in ["suspendd"] then tag "x"',
            (1, 21),
            "status is never 'suspendd'",
            "suspended",
        ),
        id="unknown status value in a list",
    ),
    pytest.param(
        error(
            DECAYING + 'score fit { on form.submit +5 }\nwhen score between 0 and fit then tag "x"',
            (3, 6),
            "'score' decays over time: compare it with a number",
        ),
        id="decaying score between a score bound",
    ),
    pytest.param(
        error(
            DECAYING + 'score fit { on form.submit +5 }\nwhen score in [fit, 2] then tag "x"',
            (3, 6),
            "'score' decays over time: compare it with a number",
        ),
        id="decaying score in a list of scores",
    ),
    pytest.param(
        error(
            DECAYING + 'score fit { on form.submit +5 }\nwhen score > -fit then tag "x"',
            (3, 6),
            "'score' decays over time: compare it with a number",
        ),
        id="decaying score compared with a negated score",
    ),
    pytest.param(
        warning(
            "score { on email.open +1 }\nwhen had email.open where score > 5 and score < 3 "
            'within 3 days then tag "x"',
            (2, 27),
            "no value of 'score' satisfies all its bounds",
        ),
        id="impossible had filter warned once",
    ),
    pytest.param(
        warning(
            'fields { nps: number }\nwhen nps between 5 and 1 and tagged "x" then tag "y"',
            (2, 6),
            "this condition can never hold",
        ),
        id="swapped between inside and warned once",
    ),
    pytest.param(
        error(
            DECAYING + 'when score >= score then tag "x"',
            (2, 6),
            "'score' decays over time: compare it with a number",
        ),
        id="decaying score on both sides reported once",
    ),
    pytest.param(
        warning(
            "fields { n: number }\non form.submit then set n = count email.opne within 1 day",
            (2, 29),
            "event type 'email.opne' is not one engage knows",
            "email.open",
        ),
        id="typo in a count inside an action",
    ),
    pytest.param(
        error(
            "fields { n: number }\n"
            "on form.submit then set n = count email.open where event.at > now within 1 day",
            (2, 63),
            "`now` can only be used through `X within D` or `X older than D`",
        ),
        id="now in a count filter inside an action",
    ),
    pytest.param(
        error(
            'when tagged "a" then tag "b"  when tagged "c" then tag "d"',
            (1, 31),
            "anonymous",
        ),
        id="two anonymous rules on one line",
    ),
]


@pytest.mark.parametrize("case", FIXED_PROBLEMS)
def test_fixed_checker_problems_stay_fixed(case: Case) -> None:
    assert_diagnostic(only(case.text), case)


def test_problems_inside_a_duplicate_declaration_are_reported_too() -> None:
    found = problems(
        "score { on email.open +1 }\n"
        "score { on email.click +1 max 0 total }\n"
        'segment a = tagged "x"\n'
        "segment a = scroe > 1\n"
    )
    assert sorted((d.span.line, d.span.column) for d in found) == [
        (2, 1),
        (2, 27),
        (4, 1),
        (4, 13),
    ]


def test_a_rule_name_taken_in_another_file_names_that_file(tmp_path: Path) -> None:
    first = tmp_path / "a.rules"
    first.write_text('\n\n\n\nrule "x" when tagged "a" then tag "b"\n', "utf-8")
    second = tmp_path / "b.rules"
    second.write_text('rule "x" when tagged "c" then tag "d"\n', "utf-8")
    with pytest.raises(RulesCheckError) as caught:
        engage.load(first, second)
    (found,) = caught.value.diagnostics
    assert (Path(found.file).name, found.span.line, found.span.column) == ("b.rules", 1, 6)
    assert "a.rules" in found.message and "line 5" in found.message


def test_a_decaying_score_can_be_read_in_an_action_value() -> None:
    rules = engage.compile(
        "score { on email.open +4 decay half-life 1 day }\nfields { n: number }\n"
        "on email.open then set n = score, do crm.sync (score)",
        name=NAME,
    )
    engine = engage.Engine(rules)
    engine.ingest({"contact": "c", "type": "email.open", "at": "2026-01-05T10:00:00Z"})
    actions = engine.ingest({"contact": "c", "type": "email.open", "at": "2026-01-06T10:00:00Z"})
    assert [(a.action, a.args) for a in actions] == [("set", ["n", 6.0]), ("crm.sync", [6.0])]


def test_a_long_chain_of_segments_checks_without_a_crash() -> None:
    count = 1200
    lines = [f"segment s{i} = in segment s{i + 1}" for i in range(count - 1)]
    lines.append(f'segment s{count - 1} = tagged "x"')
    rules = engage.compile("\n".join(lines), name=NAME)
    assert rules.segment_names[0] == f"s{count - 1}"
    assert rules.segment_names[-1] == "s0"


def test_a_form_feed_does_not_shift_the_source_line() -> None:
    with pytest.raises(RulesError) as caught:
        engage.compile(
            '# page one\x0c\nfields { city: text }\nwhen cty == "x" then tag "y"', name=NAME
        )
    (found,) = caught.value.diagnostics
    assert (found.span.line, found.span.column) == (3, 6)
    assert found.source_line == 'when cty == "x" then tag "y"'

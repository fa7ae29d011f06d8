"""``test`` blocks in rules files and ``engage test``, as a rule author uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pygments.token import Error

import engage
from engage.cli import main
from engage.dsl.formatter import format_rules
from engage.dsl.parser import parse
from engage.highlight import EngageLexer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_RULES = ROOT / "examples" / "engagement.rules"
EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"

RULES = """\
fields {
    plan: text
}
score {
    on email.click  +3
    decay half-life 30 days
}
segment hot = score >= 5
rule "Hot lead"
    when score >= 5
    then notify sales, tag "Caliente"
"""


def _run(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "t.rules"
    path.write_text(RULES + text, encoding="utf-8")
    code = main(["test", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _line_of(text: str, needle: str) -> int:
    return (RULES + text).split("\n").index(needle) + 1


def test_bundled_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_RULES)]) == 0
    out = capsys.readouterr().out
    assert "ok    Jhon crosses 5 and becomes Caliente" in out
    assert out.endswith("5 passed, 0 failed\n")


def test_passing_expectations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        tmp_path,
        """
test "Jhon crosses 5" {
    given contact jhon { score = 4, plan = "team", tags "Newsletter" }
    at 2026-01-05T10:00 event email.click for jhon
    expect tag "Caliente" for jhon
    expect notify sales for jhon at 2026-01-05T10:00
    expect no send email for jhon
    expect jhon: tagged "Newsletter" and plan == "team"
    expect segment hot has 1
    at 2026-02-05 expect score of jhon < 7
}
""",
        capsys,
    )
    assert (code, out) == (0, "ok    Jhon crosses 5\n1 passed, 0 failed\n")


def test_missing_action_shows_what_came(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "wrong tag" {
    at 2026-01-05T10:00 event email.click for jhon
    at 2026-01-05T10:00 event email.click for jhon
    expect tag "Hot" for jhon
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    line = _line_of(text, '    expect tag "Hot" for jhon')
    assert code == 1
    assert f"FAIL  wrong tag  ({tmp_path / 't.rules'}:{line - 3})" in out
    assert f't.rules:{line}:12: failed: expected tag "Hot" for jhon; it did not come\n' in out
    assert '        expect tag "Hot" for jhon\n               ^^^^^^^^^^^^^^^^^^\n' in out
    assert "    instead, jhon got:\n" in out
    assert "    2026-01-05T10:00:00Z  tag \"Caliente\"  (rule 'Hot lead')\n" in out
    assert out.endswith("0 passed, 1 failed\n")


def test_action_at_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "when" {
    at 2026-01-05T10:00 event email.click for jhon
    at 2026-01-05T10:00 event email.click for jhon
    expect notify sales for jhon at 2026-01-05T11:00
    at 2026-01-06 expect notify sales for jhon at 2026-01-05T10:00
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    assert code == 1
    assert "expected notify sales for jhon at 2026-01-05T11:00:00Z; it did not come" in out
    assert "instead, jhon got no action at 2026-01-05T11:00:00Z" in out
    assert out.count("failed:") == 1  # the second line is a clock step, not a suffix


def test_unexpected_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "no notify" {
    given contact jhon { score = 6 }
    expect no notify sales for jhon
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    assert code == 1
    assert "failed: expected no notify sales for jhon, but it came\n" in out
    assert "    2026-01-01T00:00:00Z  notify \"sales\"  (rule 'Hot lead')" in out


def test_value_shows_what_was_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "decay" {
    at 2026-01-05T10:00 event email.click for jhon
    at 2026-01-06T10:00 expect score of jhon >= 3
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    line = _line_of(text, "    at 2026-01-06T10:00 expect score of jhon >= 3")
    assert code == 1
    assert f"t.rules:{line}:32: failed: expected score of jhon >= 3\n" in out
    assert "    instead, score of jhon is 2.931\n" in out


def test_condition_shows_what_was_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "condition" {
    given contact ana { plan = "team", tags "A" }
    expect ana: tagged "B" or plan == "enterprise"
    expect bob: score > 1
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    assert code == 1
    assert 'failed: expected ana: tagged "B" or plan == "enterprise"\n' in out
    assert '    instead, ana has tags ["A"]\n    and plan of ana is "team"\n' in out
    assert "instead, there is no contact 'bob'" in out


def test_segment_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "segment" {
    given contact ana { score = 9 }
    given contact bob { score = 1 }
    expect segment hot has 2
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    assert code == 1
    assert "failed: expected segment hot to have 2\n" in out
    assert "^^^^^^^^^^^^^^^^^\n    instead, it has 1: ana\n" in out


def test_a_failure_does_not_hide_the_next_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = """
test "one" {
    expect segment hot has 1
}
test "two" {
    expect segment hot has 0
}
"""
    code, out, _ = _run(tmp_path, text, capsys)
    assert code == 1
    assert "FAIL  one" in out and "ok    two" in out
    assert out.endswith("1 passed, 1 failed\n")


def test_checker_errors_in_a_test_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
test "typos" {
    given contact jhon { scor = 4 }
    at 2026-01-05 event email.click for jhon
    at 2026-01-04 expect scoer of jhon < 7
    expect segment hott has 0
}
"""
    code, out, err = _run(tmp_path, text, capsys)
    assert code == 1 and out == ""
    given = _line_of(text, "    given contact jhon { scor = 4 }")
    assert f"t.rules:{given}:26: error: unknown field or score 'scor'" in err
    assert "(did you mean 'score'?)\n        given contact jhon { scor = 4 }\n" in err
    assert "                             ^^^^\n" in err
    assert "`at` steps must move forward: 2026-01-04 is before 2026-01-05" in err
    assert "unknown name 'scoer' (did you mean 'score'?)" in err
    assert "unknown segment 'hott' (did you mean 'hot'?)" in err
    assert err.endswith("4 errors\n")
    # The same problems for `engage check`: a test block is part of the file.
    assert main(["check", str(tmp_path / "t.rules")]) == 1
    assert "unknown segment 'hott'" in capsys.readouterr().err


def test_a_syntax_error_in_a_test_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(tmp_path, 'test "x" {\n    expect tag Caliente for jhon\n}\n', capsys)
    assert code == 1
    assert "unexpected `Caliente`" in err


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["test"])
    assert stopped.value.code == 2


def test_no_test_blocks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(tmp_path, "", capsys)
    assert (code, out) == (0, "no test blocks found\n0 passed, 0 failed\n")


# -- test blocks never change the program ------------------------------------------------


def _without_tests(text: str) -> str:
    return text[: text.index("# Tests:")]


def test_compiled_program_ignores_test_blocks() -> None:
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    assert "\ntest " in text
    with_tests = engage.compile(text, name="engagement.rules")
    without = engage.compile(_without_tests(text), name="engagement.rules")
    assert with_tests.rule_names == without.rule_names
    for engine_program in (
        (with_tests.program_for_engine(), without.program_for_engine()),
        (with_tests.program, without.program),
    ):
        assert engine_program[0].generated_source == engine_program[1].generated_source
    assert _rules_shape(with_tests.program) == _rules_shape(without.program)
    assert with_tests.warnings == without.warnings


def _rules_shape(program: Any) -> list[tuple[Any, ...]]:
    """What each compiled rule is: name, kind, condition, actions, place, inputs."""
    return [
        (
            r.name,
            r.kind,
            r.cond_text,
            r.content,
            r.line,
            r.priority,
            sorted(map(str, r.reads)),
            [a.verb for a in r.actions],
        )
        for r in program.rules
    ]


def test_run_output_is_the_same_without_test_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = tmp_path / "engagement.rules"
    bare.write_text(_without_tests(EXAMPLE_RULES.read_text(encoding="utf-8")), encoding="utf-8")
    outputs = []
    for rules in (EXAMPLE_RULES, bare):
        args = ["run", str(rules), "--events", str(EXAMPLE_EVENTS), "--until", "2026-06-30"]
        assert main([*args, "-q"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and outputs[0]


# -- the formatter and the highlighter ---------------------------------------------------

MESSY = """\
score { on email.click +3 }
test   "layout"{
  given contact  jhon {score=4,tags "a","b"}   # a comment
      at 2026-01-05T10:00 event email.click for "c-1" with {url="/x"}
  expect notify sales for jhon at 2026-01-05T10:00
  at 2026-01-06 expect jhon:score<7 and tagged "a"
expect no send email for jhon
  at 2026-01-07 advance
}
"""


def test_fmt_keeps_test_blocks() -> None:
    formatted = format_rules(MESSY)
    assert formatted == (
        "score {\n"
        "    on email.click  +3\n"
        "}\n"
        "\n"
        'test "layout" {\n'
        '    given contact jhon { score = 4, tags "a", "b" }  # a comment\n'
        '    at 2026-01-05T10:00 event email.click for "c-1" with { url = "/x" }\n'
        "    expect notify sales for jhon at 2026-01-05T10:00\n"
        '    at 2026-01-06 expect jhon: score < 7 and tagged "a"\n'
        "    expect no send email for jhon\n"
        "    at 2026-01-07 advance\n"
        "}\n"
    )
    assert format_rules(formatted) == formatted
    assert parse(formatted) == parse(MESSY)


def test_example_test_blocks_are_formatted() -> None:
    text = EXAMPLE_RULES.read_text(encoding="utf-8")
    tests = text[text.index("# Tests:") :]
    assert format_rules(text).endswith(tests)


def test_lexer_reads_test_blocks_without_errors() -> None:
    text = EXAMPLE_RULES.read_text(encoding="utf-8") + MESSY
    assert [v for t, v in EngageLexer().get_tokens(text) if t in Error] == []

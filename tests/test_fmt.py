"""``engage fmt``: the canonical layout, comments kept, idempotent, meaning kept.

"The same program" is checked on the parse: the declarations of the formatted text
equal those of the original (syntax-tree nodes compare by value, positions aside). The
tree holds every name, number, text, condition, action and mode as written, so any
change of meaning would show; positions differ by design, and so do the names of
anonymous rules (``FILE:LINE``), which the tree leaves empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings

import engage
from engage.cli import main
from engage.dsl.formatter import LINE_LIMIT, format_rules
from engage.dsl.parser import parse
from engage.errors import RulesSyntaxError
from rules_corpus import corpus, example_files
from strategies import rules_text

CORPUS = corpus()


def assert_same_program(original: str, formatted: str) -> None:
    assert parse(formatted).decls == parse(original).decls


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[name for name, _ in CORPUS])
def test_corpus_keeps_its_meaning_and_formats_once(name: str, text: str) -> None:
    formatted = format_rules(text)
    assert_same_program(text, formatted)
    assert format_rules(formatted) == formatted
    assert formatted.endswith("\n")


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_examples_compile_to_the_same_program_after_formatting(path: Path) -> None:
    """The code generated from both is the same, anonymous rule names mapped."""
    text = path.read_text("utf-8")
    before = engage.compile(text, name=path.name)
    after = engage.compile(format_rules(text), name=path.name)
    assert after.score_names == before.score_names
    assert after.segment_names == before.segment_names
    source = after.program_for_engine().generated_source
    for old, new in zip(before.rule_names, after.rule_names, strict=True):
        source = source.replace(repr(new), repr(old))
    assert source == before.program_for_engine().generated_source


@settings(max_examples=60)
@given(rules_text(time=True))
def test_generated_programs_keep_their_meaning(text: str) -> None:
    formatted = format_rules(text)
    assert_same_program(text, formatted)
    assert format_rules(formatted) == formatted


@settings(max_examples=40)
@given(rules_text(time=False))
def test_generated_core_programs_keep_their_meaning(text: str) -> None:
    formatted = format_rules(text)
    assert_same_program(text, formatted)
    assert format_rules(formatted) == formatted


def test_canonical_layout() -> None:
    text = (
        "fields{city:text,nps:number}\n"
        'score{on email.open +1 on web.visit -20 where event.url contains "/p" once\n'
        "decay half-life 3 days}\n"
        'rule "r" priority -1 when score>=5 then tag "a",untag "b" once\n'
        "segment s = score > 1\n"
        "segment t = score > 2\n"
        "when score>1 then do crm.sync (score)\n"
    )
    assert format_rules(text) == (
        "fields {\n"
        "    city: text\n"
        "    nps: number\n"
        "}\n"
        "\n"
        "score {\n"
        "    on email.open  +1\n"
        '    on web.visit   -20  where event.url contains "/p" once\n'
        "    decay half-life 3 days\n"
        "}\n"
        "\n"
        'rule "r" priority -1\n'
        "    when score >= 5\n"
        '    then tag "a", untag "b" once\n'
        "\n"
        "segment s = score > 1\n"
        "segment t = score > 2\n"
        "when score > 1 then do crm.sync (score)\n"
    )


def test_long_action_lists_take_one_line_each() -> None:
    actions = ", ".join(f'tag "a-rather-long-tag-name-{n}"' for n in range(4))
    formatted = format_rules(f"when score > 1 then {actions} at most once per 1 day")
    assert formatted == (
        "when score > 1\n"
        '    then tag "a-rather-long-tag-name-0",\n'
        '         tag "a-rather-long-tag-name-1",\n'
        '         tag "a-rather-long-tag-name-2",\n'
        '         tag "a-rather-long-tag-name-3" at most once per 1 day\n'
    )
    assert all(len(line) <= LINE_LIMIT for line in formatted.splitlines())


def test_long_conditions_break_before_or_and_and() -> None:
    parts = [f'city == "a-city-with-a-long-name-number-{n}"' for n in range(4)]
    text = f"segment s = {parts[0]} and {parts[1]} or {parts[2]} or {parts[3]}"
    formatted = format_rules(text)
    assert formatted == (
        f"segment s = {parts[0]}\n        and {parts[1]}\n    or {parts[2]}\n    or {parts[3]}\n"
    )
    assert_same_program(text, formatted)


def test_comments_stay_where_they_were() -> None:
    text = (
        "# header\n"
        "\n"
        "score {   # the default score\n"
        "    on a +1      # one\n"
        "\n"
        "    # the second group\n"
        "    on bb +2\n"
        "    # last\n"
        "}\n"
        "# between\n"
        'rule "r"\n'
        "    # why\n"
        '    when score > 1 then tag "x"  # after\n'
        'when score > 1 then tag "# not a comment"\n'
        "# the end\n"
    )
    assert format_rules(text) == (
        "# header\n"
        "\n"
        "score {   # the default score\n"
        "    on a   +1    # one\n"
        "\n"
        "    # the second group\n"
        "    on bb  +2\n"
        "    # last\n"
        "}\n"
        "\n"
        "# between\n"
        'rule "r"\n'
        "    # why\n"
        "    when score > 1\n"
        '    then tag "x"                 # after\n'  # the comment keeps its column
        "\n"
        'when score > 1 then tag "# not a comment"\n'
        "# the end\n"
    )


def test_every_comment_survives_a_joined_condition() -> None:
    text = "segment s = score > 1  # one\n    and fit > 2  # two\nscore fit { on a +1 }\n"
    formatted = format_rules(text)
    assert "# one" in formatted and "# two" in formatted
    assert format_rules(formatted) == formatted
    assert_same_program(text, formatted)


def test_syntax_errors_are_reported_not_formatted() -> None:
    with pytest.raises(RulesSyntaxError):
        format_rules("when score >= then tag")


# -- the command ----------------------------------------------------------------------------


def test_cli_check_prints_a_diff_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.rules"
    path.write_text("score{on a +1}\n", encoding="utf-8")
    assert main(["fmt", "--check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"--- {path}\n+++ {path} (formatted)\n")
    assert "-score{on a +1}\n" in out and "+    on a  +1\n" in out
    assert "would reformat 1 file" in err
    assert path.read_text("utf-8") == "score{on a +1}\n"  # unchanged


def test_cli_rewrites_in_place_then_check_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messy = tmp_path / "a.rules"
    clean = tmp_path / "b.rules"
    messy.write_text("score{on a +1}\n", encoding="utf-8")
    clean.write_text("score {\n    on a  +1\n}\n", encoding="utf-8")
    assert main(["fmt", str(messy), str(clean)]) == 0
    out, err = capsys.readouterr()
    assert out == f"reformatted {messy}\n"
    assert "reformatted 1 file, 1 unchanged" in err
    assert messy.read_text("utf-8") == "score {\n    on a  +1\n}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rules", "b.rules"]
    assert main(["fmt", "--check", str(messy), str(clean)]) == 0
    assert capsys.readouterr().out == ""


def test_cli_syntax_error_exits_1_and_leaves_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.rules"
    path.write_text("when score >= then tag\n", encoding="utf-8")
    assert main(["fmt", str(path)]) == 1
    assert "bad.rules:1:" in capsys.readouterr().err
    assert path.read_text("utf-8") == "when score >= then tag\n"


def test_cli_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fmt", str(tmp_path / "nope.rules")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_as_a_module(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "a.rules"
    path.write_text("score { on a +1 }\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "engage", "fmt", "--check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1


def test_the_bundled_examples_are_in_the_canonical_layout() -> None:
    """What `engage fmt --check examples/*.rules` says: nothing to change."""
    from pathlib import Path

    from engage.dsl.formatter import format_rules

    for path in sorted(Path(__file__).parent.parent.joinpath("examples").glob("*.rules")):
        text = path.read_text(encoding="utf-8")
        assert format_rules(text, str(path)) == text, f"{path.name} is not fmt-clean"

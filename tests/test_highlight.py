"""The Pygments lexer and the TextMate grammar: every rules text lexes cleanly, and each
kind of word gets its own token type."""

from __future__ import annotations

import json

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Literal, Name, Number, String, Token

from engage.dsl.grammar import keywords, reserved_words, words_of_rule
from engage.highlight import EngageLexer, textmate_grammar, textmate_json
from rules_corpus import ROOT, corpus

CORPUS = corpus()


def tokens(text: str) -> list[tuple[Token, str]]:  # type: ignore[valid-type]
    return [(kind, value) for kind, value in EngageLexer().get_tokens(text) if value.strip()]


def kind_of(text: str, word: str) -> Token:  # type: ignore[valid-type]
    found = [kind for kind, value in tokens(text) if value == word]
    assert found, f"{word!r} is not a token of {text!r}"
    return found[0]


@pytest.mark.parametrize(("name", "text"), CORPUS, ids=[name for name, _ in CORPUS])
def test_every_rules_text_lexes_without_errors(name: str, text: str) -> None:
    lexed = tokens(text)
    assert not [value for kind, value in lexed if kind in Error]
    assert "".join(value for _, value in EngageLexer().get_tokens(text)).rstrip("\n") == (
        text.rstrip("\n")
    )


def test_registered_with_pygments() -> None:
    assert isinstance(get_lexer_by_name("engage"), EngageLexer)
    assert isinstance(get_lexer_for_filename("engagement.rules"), EngageLexer)


def test_token_types() -> None:
    text = (
        'rule "Hot lead" priority 10  # why\n'
        "    when fit >= 2.5 and last_activity within 30 days and created > 2026-01-01\n"
        '    then add 5 to score, send email "hi" re-arm when vip == true\n'
    )
    assert kind_of(text, "rule") in Keyword
    assert kind_of(text, '"Hot lead"') in String
    assert kind_of(text, "# why") in Comment
    assert kind_of(text, "10") in Number and kind_of(text, "2.5") in Number
    assert kind_of(text, "30") in Number and kind_of(text, "days") in Keyword.Type
    assert kind_of(text, "2026-01-01") in Literal.Date
    assert kind_of(text, "fit") in Name and kind_of(text, "vip") in Name
    assert kind_of(text, "last_activity") in Name.Builtin
    assert kind_of(text, "re-arm") in Keyword and kind_of(text, "within") in Keyword
    assert kind_of(text, "true") in Keyword.Constant


def test_keywords_used_as_names() -> None:
    assert kind_of('when score >= 5 then tag "x"', "score") in Name
    assert kind_of("score { on unsubscribe -20 }", "unsubscribe") in Name
    assert kind_of("score { on unsubscribe -20 }", "score") in Keyword
    assert kind_of('on email.open then tag "x"', "email") in Name
    assert kind_of('when consent.email then tag "x"', "consent") in Name.Builtin


def test_every_keyword_of_the_grammar_is_a_keyword() -> None:
    units = words_of_rule("unit")
    for word in keywords():
        text = f"1 {word}" if word in units else f"{word} x"  # a unit follows a number
        assert kind_of(text, word) in Keyword, word
    assert set(reserved_words()) <= set(keywords())


def test_textmate_grammar_is_up_to_date() -> None:
    committed = (ROOT / "grammar" / "engage.tmLanguage.json").read_text("utf-8")
    assert committed == textmate_json(), (
        "run: python -m engage.highlight grammar/engage.tmLanguage.json"
    )
    assert json.loads(committed) == textmate_grammar()


def test_editor_files_are_valid_json() -> None:
    package = json.loads((ROOT / "grammar" / "package.json").read_text("utf-8"))
    (grammar,) = package["contributes"]["grammars"]
    assert grammar["scopeName"] == textmate_grammar()["scopeName"]
    assert (ROOT / "grammar" / grammar["path"]).is_file()
    config = json.loads((ROOT / "grammar" / "language-configuration.json").read_text("utf-8"))
    assert config["comments"]["lineComment"] == "#"

"""Regressions around ``reload``: each test is the smallest program that showed one bug
(both fixed by rebuilding every derived part on reload and keeping the dispatcher)."""

from __future__ import annotations

from typing import Any

import engage
from engage import Action

T0 = 1767607200.0  # 2026-01-05T10:00:00Z


def test_query_compiled_before_a_reload_follows_reordered_scores() -> None:
    engine = engage.Engine(
        engage.compile("score a { on x +1 }\nscore b { on y +1 }\n", name="r.rules")
    )
    engine.ingest({"contact": "c1", "type": "x", "at": T0})
    query = 'a >= 1 and tagged "z" or a >= 1'
    assert engine.select(query) == ["c1"]
    engine.reload(engage.compile("score b { on y +1 }\nscore a { on x +1 }\n", name="r.rules"))
    assert engine.select(query.replace(" or ", "  or ")) == ["c1"]  # a new text: right
    assert engine.select(query) == ["c1"]  # the text queried before the reload


def test_retry_after_reload_skips_handlers_that_took_the_action() -> None:
    rules = engage.compile('rule "r" on x then notify sales\n', name="r.rules")
    engine = engage.Engine(rules)
    calls: list[str] = []
    failing = [True]

    def first(action: Action) -> None:
        calls.append("first")

    def second(action: Action) -> Any:
        calls.append("second")
        if failing[0]:
            raise RuntimeError("down")

    engine.on("notify", first)
    engine.on("notify", second)
    engine.ingest({"contact": "c1", "type": "x", "at": T0})
    assert calls == ["first", "second"]
    assert len(engine.failed) == 1
    engine.reload(rules)
    failing[0] = False
    assert engine.retry_failed() == []
    assert calls == ["first", "second", "second"]  # the first handler took it already


def test_reload_keeps_the_rejected_records() -> None:
    rules = engage.compile('rule "r" on x then notify sales\n', name="r.rules")
    engine = engage.Engine(rules)
    engine.ingest({"contact": "c1", "type": "x", "at": "not a time"})
    assert len(engine.rejected) == 1
    engine.reload(rules)
    assert [r.reason for r in engine.rejected] == [engine.rejected[0].reason]
    assert engine.stats.rejected == 1

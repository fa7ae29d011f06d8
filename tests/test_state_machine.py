"""The public API as a state machine, against the oracle (tests/oracle.py).

Hypothesis drives random sequences of ``ingest``, ``ingest_many``, ``advance``,
``reload`` (to the same program or to one that declares its scores in the other order),
``snapshot`` + ``restore``, queries (``count`` / ``select``) and ``retry_failed`` with a
handler that fails while the host is "down". The oracle is fed the same events and clock
moves; after every step the engine's contacts and the actions emitted so far must equal
the oracle's, and every outside action must have reached the first handler exactly once.

The two programs mean the same thing, so a reload changes the engine's layout (which
slot holds which score) and nothing the oracle can see.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import engage
from engage import Action
from engage.actions import STATE_VERBS
from engage.dsl.parser import parse
from oracle import Oracle, action_records, assert_same_actions, assert_same_dump
from strategies import DAY, HOUR, T0

HEAD = """fields {
    nps: number
    city: text
}
"""
SCORE_A = """score a {
    on email.open +2
    on form.submit +5 where nps >= 5
}
"""
SCORE_B = """score b {
    on email.click +1
    on form.submit -1
    clamp 0 to 10
}
"""
TAIL = """segment hot = a >= 6
rule "tagger" when a >= 4 then tag "z"
rule "climb" on b change where event.delta > 0 then notify sales
rule "zed" on tag added "z" then do zed
rule "welcome" when in segment hot then send email "welcome" from campaign "spring"
rule "optout" on web.visit where nps <= 2 then unsubscribe from campaign "spring"
rule "flaky" on email.click then do ping
rule "cool" when b between 2 and 4 and not (city matches "^L") then untag "z"
"""
#: The same program, its scores declared in either order.
PROGRAMS = {"ab": HEAD + SCORE_A + SCORE_B + TAIL, "ba": HEAD + SCORE_B + SCORE_A + TAIL}
QUERIES = [
    'a >= 1 and tagged "z" or a >= 1',
    "a >= 4",
    "b between 1 and 3",
    "b not between 1 and 3",
    "in segment hot",
    'tagged "z"',
    'city not contains "a"',
    "nps is empty",
    'valuation is "new"',
    "a >= 1 and b >= 1",
]
CONTACTS = ["c1", "c2", "c3"]
GAPS = [0, 0, 60, HOUR, DAY, 20 * DAY]


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """An event without its time (the machine adds it)."""
    record: dict[str, Any] = {"contact": draw(st.sampled_from(CONTACTS))}
    kind = draw(st.integers(0, 9))
    if kind < 3:
        record["type"] = "contact.updated"
        data: dict[str, Any] = {}
        if draw(st.booleans()):
            data["nps"] = draw(st.one_of(st.none(), st.integers(0, 10)))
        if draw(st.booleans()):
            data["city"] = draw(st.sampled_from(["Lima", "Cali", "Quito"]))
        if draw(st.integers(0, 3)) == 0:
            data["tags"] = ["z"]
        record["data"] = data
    elif kind == 3:
        record["type"] = "contact.deleted"
    else:
        record["type"] = draw(
            st.sampled_from(["email.open", "email.click", "form.submit", "web.visit"])
        )
    return record


def signature(action: Action) -> tuple[Any, ...]:
    """What identifies an outside action across reloads and restores (which rebuild
    the pending failed actions as new objects)."""
    return (action.at, action.contact, action.rule, action.action, repr(action.args))


class EngineAgainstOracle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="engage-sm-"))
        self.compiled = {
            key: engage.compile(text, name="t.rules") for key, text in PROGRAMS.items()
        }
        self.oracle = Oracle(PROGRAMS["ab"])
        self.layout = "ab"
        self.engine = engage.Engine(self.compiled[self.layout])
        self.clock = T0
        self.number = 0
        self.got: list[dict[str, Any]] = []
        self.down = False
        self.emitted: Counter[tuple[Any, ...]] = Counter()
        self.taken: Counter[tuple[Any, ...]] = Counter()
        #: Signatures whose first handler may legitimately or knowingly run twice.
        self.excused: set[tuple[Any, ...]] = set()
        #: The layout under which each query text was first compiled by this engine.
        self.compiled_under: dict[str, str] = {}
        self._register()

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the host's handlers ----------------------------------------------------------------

    def _register(self) -> None:
        self.engine.on("*", self._take)
        self.engine.on("*", self._flaky)

    def _take(self, action: Action) -> None:
        self.taken[signature(action)] += 1

    def _flaky(self, action: Action) -> None:
        if self.down and action.action == "ping":
            raise ConnectionError("host down")

    def _emitted(self, actions: list[Action]) -> None:
        self.got.extend(action_records(actions))
        for action in actions:
            if action.action not in STATE_VERBS and action.suppressed is None:
                self.emitted[signature(action)] += 1

    def _excuse_pending(self) -> None:
        for action in self.engine.failed:
            self.excused.add(signature(action))

    # -- operations -------------------------------------------------------------------------

    def _timed(self, record: dict[str, Any], gap: int, late: bool, with_id: bool) -> dict[str, Any]:
        self.clock += gap
        event = dict(record, at=self.clock - HOUR if late else self.clock)
        if with_id:
            self.number += 1
            event["id"] = f"e{self.number}"
        return event

    @initialize()
    def start(self) -> None:
        self.engine.advance(self.clock)
        self.oracle.advance(self.clock)

    @rule(
        record=events(),
        gap=st.sampled_from(GAPS),
        late=st.booleans(),
        with_id=st.booleans(),
    )
    def ingest(self, record: dict[str, Any], gap: int, late: bool, with_id: bool) -> None:
        event = self._timed(record, gap, late and gap == 0, with_id)
        self._emitted(self.engine.ingest(dict(event)))
        self.oracle.ingest(event)

    @rule(batch=st.lists(st.tuples(events(), st.sampled_from(GAPS[:4])), max_size=6))
    def ingest_many(self, batch: list[tuple[dict[str, Any], int]]) -> None:
        timed = [self._timed(record, gap, False, True) for record, gap in batch]
        self._emitted(self.engine.ingest_many([dict(e) for e in timed]))
        for event in timed:
            self.oracle.ingest(event)

    @rule(gap=st.sampled_from([HOUR, DAY, 16 * DAY, 50 * DAY]))
    def advance(self, gap: int) -> None:
        self.clock += gap
        self._emitted(self.engine.advance(self.clock))
        self.oracle.advance(self.clock)

    @rule(layout=st.sampled_from(sorted(PROGRAMS)))
    def reload(self, layout: str) -> None:
        # A reload keeps the failed actions and the handlers still owed them: a retry
        # after it calls only those (tests/test_reload_regressions.py).
        self.engine.reload(self.compiled[layout])
        self.layout = layout
        report = self.engine.reload_report
        assert not report.backfilled_actions

    @rule()
    def snapshot_and_restore(self) -> None:
        path = self.folder / "state.snap"
        self.engine.snapshot(path)
        # After a restore it is not known which handlers took a failed action: every
        # handler is called again (documented in Engine.retry_failed).
        self._excuse_pending()
        self.engine = engage.Engine.restore(path, self.compiled[self.layout])
        self.compiled_under = {}
        self._register()

    @rule(down=st.booleans())
    def host(self, down: bool) -> None:
        self.down = down

    @precondition(lambda self: bool(self.engine.failed))
    @rule()
    def retry_failed(self) -> None:
        pending = len(self.engine.failed)
        again = self.engine.retry_failed()
        if self.down:
            assert len(again) == pending
        else:
            assert again == []

    @precondition(lambda self: bool(self.compiled_under))
    @rule(data=st.data())
    def query_again(self, data: st.DataObject) -> None:
        """A text this engine compiled already: its cached query must still be right."""
        self.query(data.draw(st.sampled_from(sorted(self.compiled_under))))

    @rule(text=st.sampled_from(QUERIES))
    def query(self, text: str) -> None:
        # A text compiled under the other score order must be compiled again after the
        # reload (tests/test_reload_regressions.py).
        self.compiled_under.setdefault(text, self.layout)
        selected = self.engine.select(text)
        counted = self.engine.count(text)
        decl = parse(f"segment q = {text}", "<query>").decls[0]
        condition = decl.condition  # type: ignore[union-attr]
        expected = sorted(
            cid for cid, c in self.oracle.contacts.items() if self.oracle.cond(condition, c)
        )
        assert selected == expected, f"select({text!r})"
        assert counted == len(expected), f"count({text!r})"

    # -- what must hold after every step ----------------------------------------------------

    @invariant()
    def same_contacts(self) -> None:
        assert_same_dump(list(self.engine.dump()), self.oracle.dump())

    @invariant()
    def same_actions(self) -> None:
        assert_same_actions(self.got, self.oracle.actions, "state machine")

    @invariant()
    def each_action_taken_once(self) -> None:
        for key in self.emitted.keys() | self.taken.keys():
            if key not in self.excused:
                assert self.taken[key] == self.emitted[key], key
            else:
                assert self.taken[key] >= self.emitted[key], key

    @invariant()
    def structures_hold(self) -> None:
        check = getattr(self.engine, "check_invariants", None)
        if check is not None:
            check()
        else:
            self.engine._indexes.check(self.engine._contacts)
            self.engine._timers.check(self.engine._contacts)

    @invariant()
    def no_problems(self) -> None:
        assert not self.engine.problems, self.engine.problems


EngineAgainstOracle.TestCase.settings = settings(
    max_examples=max(40, settings.default.max_examples // 3),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
test_engine_against_oracle = EngineAgainstOracle.TestCase

"""engage: an embeddable rules-and-scoring engine for customer engagement.

The embedding surface::

    import engage

    rules = engage.load("engagement.rules")          # or engage.compile(text, name=...)
    engine = engage.Engine(rules)
    engine.on("notify", handler)                     # handler(action) for outside actions
    actions = engine.ingest({"contact": "jhon", "type": "stage.reached",
                             "at": "2026-01-05T10:00:00Z"})
    engine.ingest_many(events)                       # the fast path for streams
    engine.advance("2026-02-01")                     # move the clock; fires due timers
    engine.contact("jhon").scores                    # read-only view
    engine.top("score", 10); engine.count("score >= 5"); engine.select("in segment x")
"""

from engage.actions import Action
from engage.engine import Engine, Rejected
from engage.errors import (
    CascadeError,
    Diagnostic,
    EngageError,
    EventError,
    LimitExceededError,
    QueryError,
    RulesCheckError,
    RulesError,
    RulesSyntaxError,
    SnapshotError,
)
from engage.rules import Rules, compile_rules, load
from engage.state.view import ContactView
from engage.triggers.cascade import Problem

compile = compile_rules

__version__ = "0.1.0"

__all__ = [
    "Action",
    "CascadeError",
    "ContactView",
    "Diagnostic",
    "EngageError",
    "Engine",
    "EventError",
    "LimitExceededError",
    "Problem",
    "QueryError",
    "Rejected",
    "Rules",
    "RulesCheckError",
    "RulesError",
    "RulesSyntaxError",
    "SnapshotError",
    "__version__",
    "compile",
    "compile_rules",
    "load",
]

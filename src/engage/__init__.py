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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Where each public name lives. They are imported on first use (PEP 562), so that
#: ``engage check`` and other light uses do not pay for loading the engine.
_EXPORTS: dict[str, tuple[str, str]] = {
    "Action": ("engage.actions", "Action"),
    "Engine": ("engage.engine", "Engine"),
    "Rejected": ("engage.engine", "Rejected"),
    "CascadeError": ("engage.errors", "CascadeError"),
    "Diagnostic": ("engage.errors", "Diagnostic"),
    "EngageError": ("engage.errors", "EngageError"),
    "EventError": ("engage.errors", "EventError"),
    "LimitExceededError": ("engage.errors", "LimitExceededError"),
    "QueryError": ("engage.errors", "QueryError"),
    "RulesCheckError": ("engage.errors", "RulesCheckError"),
    "RulesError": ("engage.errors", "RulesError"),
    "RulesSyntaxError": ("engage.errors", "RulesSyntaxError"),
    "SnapshotError": ("engage.errors", "SnapshotError"),
    "Rules": ("engage.rules", "Rules"),
    "compile_rules": ("engage.rules", "compile_rules"),
    "compile": ("engage.rules", "compile_rules"),
    "load": ("engage.rules", "load"),
    "ContactView": ("engage.state.view", "ContactView"),
    "Problem": ("engage.triggers.cascade", "Problem"),
}


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'engage' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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

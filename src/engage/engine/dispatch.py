"""Outside actions on their way to the host: handlers, the outbox, failed actions.

The dispatcher outlives rule reloads: the handlers a host registered, the actions not
yet drained, and the failed actions with the handlers still owed each of them stay as
they are, so a retry after a reload calls only the handlers that did not take the
action yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from engage.actions import STATE_VERBS, Action

Handler = Callable[[Action], Any]


class Dispatcher:
    """Delivers outside actions to handlers, in order, and keeps what failed."""

    __slots__ = ("_handlers", "_owed", "failed", "outbox")

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        #: Outside actions emitted since the last drain.
        self.outbox: list[Action] = []
        #: Actions whose handler raised, in the order they failed.
        self.failed: list[Action] = []
        #: For a failed action (by identity), the handlers still to call.
        self._owed: dict[int, tuple[Handler, ...]] = {}

    def on(self, verb: str, handler: Handler) -> None:
        """Call ``handler(action)`` for every outside action with this verb (``"*"``: all)."""
        self._handlers[verb].append(handler)

    def drain(self) -> list[Action]:
        """The outbox's actions (and forget them)."""
        drained = self.outbox
        self.outbox = []
        return drained

    def load(self, outbox: Iterable[Action], failed: Iterable[Action]) -> None:
        """Take a snapshot's pending actions. Which handlers already took a failed action
        is not stored: a retry calls every handler of its verb."""
        self.outbox = list(outbox)
        self.failed = list(failed)
        self._owed = {}

    def dispatch(self, actions: Iterable[Action]) -> None:
        """Queue and deliver the outside actions among ``actions`` (state verbs and
        suppressed actions stay inside). Cost: one test per action, plus the handlers."""
        handlers = self._handlers
        outbox = self.outbox
        for action in actions:
            if action.action in STATE_VERBS or action.stopped:
                continue
            outbox.append(action)
            if handlers:
                self._deliver(action)

    def retry(self) -> list[Action]:
        """Deliver the failed actions again; returns those that failed again.

        Only the handler that raised and those after it are called: a handler that
        already took the action does not get it twice.
        """
        pending = self.failed
        owed = self._owed
        self.failed = []
        self._owed = {}
        for action in pending:
            action.status = "ok"
            action.error = None
            self._deliver(action, owed.get(id(action)))
        return list(self.failed)

    def _deliver(self, action: Action, handlers: tuple[Handler, ...] | None = None) -> None:
        if handlers is None:
            handlers = (*self._handlers.get(action.action, ()), *self._handlers.get("*", ()))
        for position, handler in enumerate(handlers):
            try:
                handler(action)
            except Exception as exc:  # a host bug must not stop the stream
                action.status = "failed"
                action.error = f"{type(exc).__name__}: {exc}"
                self.failed.append(action)
                self._owed[id(action)] = handlers[position:]
                return

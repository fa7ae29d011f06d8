"""The base of the checker's passes over expressions: one ``visit_<node>`` per node type.

A pass subclasses :class:`ExprVisitor` and writes ``visit_compare``, ``visit_had``... for
the node types it handles (the method name is the node's class name in snake case).
:meth:`ExprVisitor.visit` finds the method through a table built once per subclass, so
a visit costs one dictionary lookup and one call. There is no silent fallback: a node
type the pass has no method for raises :class:`UnknownNodeError`, so a node added to the
language cannot be typed or checked by a guess (``tests/test_visitor.py`` also checks
that every pass covers every node type).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any, ClassVar, Final, Generic, TypeVar

from engage.dsl import ast

Result = TypeVar("Result")

#: Every node type of :data:`engage.dsl.ast.Expr`.
EXPR_TYPES: Final[tuple[type, ...]] = typing.get_args(ast.Expr)

_WORD_START = re.compile(r"(?<!^)(?=[A-Z])")


def visit_method_name(node_type: type) -> str:
    """``visit_text_match`` for :class:`~engage.dsl.ast.TextMatch`."""
    return "visit_" + _WORD_START.sub("_", node_type.__name__).lower()


class UnknownNodeError(TypeError):
    """A pass met a node type it has no ``visit_`` method for (a bug in engage)."""


class ExprVisitor(Generic[Result]):
    """Dispatch on the type of an expression node to the matching ``visit_`` method."""

    _dispatch: ClassVar[dict[type, Callable[[Any, Any], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dispatch = {
            node_type: getattr(cls, visit_method_name(node_type))
            for node_type in EXPR_TYPES
            if hasattr(cls, visit_method_name(node_type))
        }

    @classmethod
    def missing_node_types(cls) -> list[str]:
        """Node types this pass has no method for (empty for a complete pass)."""
        return [t.__name__ for t in EXPR_TYPES if t not in cls._dispatch]

    def visit(self, node: ast.Expr) -> Result:
        """The result of this pass's method for ``node``'s type.

        Raises:
            UnknownNodeError: the pass has no method for this node type.
        """
        method = self._dispatch.get(type(node))
        if method is None:
            raise UnknownNodeError(
                f"{type(self).__name__} has no {visit_method_name(type(node))}() "
                f"for a {type(node).__name__} node"
            )
        result: Result = method(self, node)
        return result

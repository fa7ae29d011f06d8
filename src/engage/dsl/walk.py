"""Walking condition and expression trees: one definition of what a node's children are.

The checker, the loop finder and the compiler all need to visit every node of a
condition; keeping the list of children here means a new node type is taught to all of
them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engage.dsl import ast


def walk(expr: ast.Expr) -> Iterator[ast.Expr]:
    """Every node of an expression tree, parents before children."""
    stack: list[ast.Expr] = [expr]
    while stack:
        node = stack.pop()
        yield node
        getter = _CHILDREN.get(type(node))
        if getter is not None:
            stack.extend(reversed(getter(node)))


def children(node: ast.Expr) -> Sequence[ast.Expr]:
    """The direct sub-expressions of a node, in written order."""
    getter = _CHILDREN.get(type(node))
    return () if getter is None else getter(node)


def _where(node: ast.Had | ast.Count) -> Sequence[ast.Expr]:
    return () if node.where is None else (node.where,)


#: How to find the children of each node type that has any. A table rather than a
#: ``match``: the checker and the compiler walk every condition several times, and on a
#: file of a thousand rules the lookup is what the walk costs.
_CHILDREN: dict[type, Callable[[Any], Sequence[ast.Expr]]] = {
    ast.Arith: lambda n: (n.left, n.right),
    ast.Compare: lambda n: (n.left, n.right),
    ast.Neg: lambda n: (n.operand,),
    ast.Not: lambda n: (n.operand,),
    ast.IsEmpty: lambda n: (n.operand,),
    ast.Within: lambda n: (n.operand,),
    ast.Between: lambda n: (n.operand, n.low, n.high),
    ast.InList: lambda n: (n.operand, *n.items.items),
    ast.TextMatch: lambda n: (n.operand, n.pattern),
    ast.And: lambda n: n.items,
    ast.Or: lambda n: n.items,
    ast.ListLit: lambda n: n.items,
    ast.Had: _where,
    ast.Count: _where,
}

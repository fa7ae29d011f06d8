"""The public names of ``engage`` are listed three times; these tests keep them in step.

``__all__`` says what ``from engage import *`` gives; ``_EXPORTS`` says where each name
is loaded from on first use (PEP 562); the ``TYPE_CHECKING`` imports tell type checkers
the same. A name added to one list and not the others would be missing for users or for
mypy, so each list is compared with the others, and every name must resolve to the
object its module defines.
"""

from __future__ import annotations

import ast
import importlib
import inspect

import engage


def _type_checking_names() -> set[str]:
    """Names bound under ``if TYPE_CHECKING:`` in ``engage/__init__.py``."""
    tree = ast.parse(inspect.getsource(engage))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in statement.names)
                elif isinstance(statement, ast.Assign):
                    names.update(t.id for t in statement.targets if isinstance(t, ast.Name))
    return names


def test_all_exports_and_type_checking_imports_name_the_same_things() -> None:
    public = set(engage.__all__) - {"__version__"}
    assert public == set(engage._EXPORTS)
    assert public == _type_checking_names()


def test_every_public_name_resolves_to_its_modules_object() -> None:
    for name, (module_name, attribute) in engage._EXPORTS.items():
        value = getattr(engage, name)
        assert value is getattr(importlib.import_module(module_name), attribute), name
    assert engage.compile is engage.compile_rules
    assert set(engage.__all__) <= set(dir(engage))

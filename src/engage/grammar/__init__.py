"""Where the grammar file of the rules language (``engage.lark``) is found.

The one copy of the grammar is the top-level ``grammar/engage.lark`` of the source tree,
next to the editor grammars made from it. A built wheel carries it as package data
(``engage/grammar/engage.lark``, mapped in by the build); a checkout or an editable
install reads the top-level file itself. Finding it costs one or two ``stat`` calls.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

GRAMMAR_FILE: Final = "engage.lark"


def grammar_file() -> Traversable:
    """The grammar file: the packaged copy of a wheel, else the source tree's own.

    Raises:
        FileNotFoundError: neither is there (a broken install).
    """
    packaged = resources.files(__name__).joinpath(GRAMMAR_FILE)
    if packaged.is_file():
        return packaged
    # src/engage/grammar/__init__.py -> the checkout's top-level grammar/ folder.
    checkout = Path(__file__).resolve().parents[3] / "grammar" / GRAMMAR_FILE
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(
        f"the rules grammar {GRAMMAR_FILE} is missing from this installation of engage"
    )


def grammar_text() -> str:
    """The text of the grammar file."""
    return grammar_file().read_text("utf-8")

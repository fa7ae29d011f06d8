"""``matches`` patterns, run by a linear-time engine so hostile text cannot hang a stream.

Python's ``re`` backtracks: ``(a+)+$`` against a long run of ``a`` followed by ``b`` takes
exponential time, and the text comes from events, which anyone can send. engage runs
patterns with RE2 (google-re2), whose matching time is linear in the text, whatever the
pattern. The price is RE2's syntax: no back-references and no look-around, which the
checker reports as errors at ``engage check`` time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    import re2

#: The longest pattern accepted in a rules file.
MAX_PATTERN_LENGTH: Final = 1000
#: Memory RE2 may use for one compiled pattern (bytes); larger patterns are refused.
MAX_PATTERN_MEMORY: Final = 8 << 20


class PatternError(ValueError):
    """A ``matches`` pattern that cannot be used; the message says why."""


class Pattern(Protocol):
    def search(self, text: str) -> object: ...


def _options() -> re2.Options:
    import re2  # noqa: PLC0415 - on first use: most rules files have no pattern

    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PATTERN_MEMORY
    return options


def compile_pattern(pattern: str) -> Pattern:
    """Compile a pattern with RE2.

    Raises:
        PatternError: too long, or not valid RE2 syntax (the message explains).
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern longer than {MAX_PATTERN_LENGTH} characters")
    import re2  # noqa: PLC0415 - see _options

    try:
        compiled: Pattern = re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        hint = ""
        if "\\1" in pattern or "(?<" in pattern or "(?=" in pattern or "(?!" in pattern:
            hint = " (back-references and look-around are not supported)"
        raise PatternError(f"invalid pattern: {reason}{hint}") from None
    return compiled


def check_pattern(pattern: str) -> None:
    """Raise :class:`PatternError` if ``pattern`` cannot be used."""
    compile_pattern(pattern)

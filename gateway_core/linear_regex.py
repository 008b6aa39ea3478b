"""Regular expressions that run in linear time (RE2), for the `[regex]` filter.

Python's `re` backtracks: `^(a+)+$` over a 40-character string takes minutes, and a request that
sends it would hold the event loop. RE2 guarantees time linear in the text; constructs that need
backtracking (backreferences, lookaround) are refused at parse time, so the caller gets a 400
naming the parameter instead. google-re2 is imported here only.
"""

from __future__ import annotations

import functools
from typing import Protocol

import re2

MAX_PATTERN_LENGTH = 1_000


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the caller reports the error; RE2 would also print it to stderr
    return options


@functools.lru_cache(maxsize=512)
def compile_linear(pattern: str) -> Pattern:
    """The compiled pattern; ValueError (with RE2's reason) when RE2 cannot run it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"longer than {MAX_PATTERN_LENGTH} characters")
    try:
        compiled: Pattern = re2.compile(pattern, _options())
    except re2.error as error:
        reason = error.args[0] if error.args else error
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(text) from None
    return compiled

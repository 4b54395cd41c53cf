"""One escaping of text a model chose (names, keys, signatures, file names) before we print or write it.

A SavedModel names its functions, signatures, input and output keys and assets; ``tfhub-llm inspect``
prints them and model cards quote them. :func:`printable` turns every character that can act on a
terminal or hide text (control characters such as ESC, line and paragraph separators, bidirectional
overrides and other invisible format characters) into a visible ``\\xNN`` / ``\\uNNNN`` escape, so a
model cannot set the terminal's title, clear the screen or forge a line. :func:`printable_tree` applies
it to every string (keys included) of a JSON-like structure, :func:`printable_lines` to each line of a
report or error message we composed around such names.
"""

from __future__ import annotations

import unicodedata

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape(character: str) -> str:
    code = ord(character)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every control, format, separator or unassigned character shown as an escape."""
    return "".join(_escape(c) if unicodedata.category(c) in _UNSAFE_CATEGORIES else c for c in str(text))


def printable_lines(text: str) -> str:
    """Multi-line text we composed (a report, an error) with :func:`printable` applied to each of its lines."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def printable_tree(value):
    """``value`` (dicts, lists, tuples, strings, numbers) with :func:`printable` applied to every string."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_tree(key): printable_tree(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(printable_tree(item) for item in value)
    return value

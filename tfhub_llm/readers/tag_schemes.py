"""Tag schemes of word-level tagged data (IOB1, IOB2, IOBES): what a tag is, and which scheme a data set uses.

A tag is ``O`` (outside any entity) or a prefix character and an entity type, ``B-PER``: ``B``egin,
``I``nside, and in IOBES ``E``nd and ``S``ingle. The readers (:mod:`tfhub_llm.readers.conll`) check
every tag read with :func:`tag_problem`; the token classifier checks its label names with
:func:`checked_tag_scheme`; chunking tags into entities is :mod:`tfhub_llm.tasks.entities`.
"""

from __future__ import annotations

from typing import Sequence

from tfhub_llm.errors import InvalidArgumentError

OUTSIDE = "O"
TAG_SCHEMES = ("IOB1", "IOB2", "IOBES")
SCHEME_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "IOBES": "BIES"}


def tag_parts(tag: str) -> tuple[str, str]:
    """(prefix character, entity type) of a tag, as seqeval reads it: ``"B-PER"`` → ``("B", "PER")``."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def tag_problem(tag: object, scheme: str | None = None) -> str | None:
    """Why ``tag`` is not ``O`` or ``PREFIX-TYPE`` with a prefix of ``scheme`` (any of B/I/E/S without one); None if it is."""
    if not isinstance(tag, str):
        return f"expected a tag string, got {tag!r}"
    if tag == OUTSIDE:
        return None
    prefixes = SCHEME_PREFIXES[scheme] if scheme else "BIES"
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in prefixes:
        allowed = "/".join(f"{prefix}-" for prefix in prefixes)
        return f"tag {tag!r} is not 'O' or {allowed} followed by an entity type" + (f" ({scheme})" if scheme else "")
    return None


def detect_tag_scheme(tag_sequences: Sequence[Sequence[str]]) -> str:
    """``"IOBES"`` when any tag has an E- or S- prefix; ``"IOB1"`` when an entity opens with I- (after
    ``O``, a sentence start or another type), as in the original CoNLL-2003 files; else ``"IOB2"``."""
    scheme = "IOB2"
    for tags in tag_sequences:
        previous = OUTSIDE
        for tag in tags:
            prefix, entity_type = tag_parts(tag)
            if prefix in "ES":
                return "IOBES"
            if prefix == "I" and (previous == OUTSIDE or tag_parts(previous)[1] != entity_type):
                scheme = "IOB1"
            previous = tag
    return scheme


def checked_tag_scheme(label_names: Sequence[str], tag_scheme: str | None) -> str:
    """The scheme of ``label_names`` (given, or IOBES if any E-/S- tag, else IOB2); raises if a name does not fit it."""
    if tag_scheme is not None and tag_scheme not in TAG_SCHEMES:
        raise InvalidArgumentError(f"tag_scheme must be one of {TAG_SCHEMES} or None, got {tag_scheme!r}")
    scheme = tag_scheme or detect_tag_scheme([label_names])
    if scheme == "IOB1" and tag_scheme is None:
        scheme = "IOB2"  # a list of names cannot tell IOB1 from IOB2; both use the same tags
    for name in label_names:
        problem = tag_problem(name, scheme)
        if problem:
            raise InvalidArgumentError(f"label_names: {problem}")
    return scheme

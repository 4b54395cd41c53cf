"""Word-level tagged data: CoNLL files and JSON Lines → checked :class:`TaggedSentences`.

CoNLL: one token per line with its tag in the LAST column (columns separated by spaces or tabs),
a blank line between sentences, and ``-DOCSTART-`` lines between documents (skipped; they only
mark where a document starts). JSON Lines: one ``{"tokens": [...], "tags": [...]}`` object per
line, each its own document. Tags follow :mod:`tfhub_llm.readers.tag_schemes`. Every problem raises
:class:`tfhub_llm.errors.DataError` naming the file, the line and the field; the train / validation
split by document is :func:`tfhub_llm.training.splits.split_by_document`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

from tfhub_llm.errors import DataError
from tfhub_llm.readers.tag_schemes import OUTSIDE, tag_parts, tag_problem
from tfhub_llm.readers.text_files import JSON_LINES_SUFFIXES, checked, json_lines_records, text_lines

DOCUMENT_START = "-DOCSTART-"


@dataclasses.dataclass
class TaggedSentences:
    """Sentences of words with one tag per word, as read from ``path``.

    ``documents[i]`` numbers the document sentence ``i`` belongs to; ``lines[i][j]`` is the line
    (1-based) word ``j`` of sentence ``i`` came from, so later checks can name it.
    """

    tokens: list[list[str]]
    tags: list[list[str]]
    documents: list[int]
    lines: list[list[int]]
    path: str

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, indices: Sequence[int]) -> "TaggedSentences":
        """The sentences at ``indices``, in that order."""
        return TaggedSentences(*([values[i] for i in indices] for values in
                                 (self.tokens, self.tags, self.documents, self.lines)), path=self.path)

    def label_names(self) -> list[str]:
        """``O`` then the tags found, by entity type and then prefix (B, I, E, S)."""
        found = {tag for tags in self.tags for tag in tags} - {OUTSIDE}
        return [OUTSIDE, *sorted(found, key=lambda tag: (tag_parts(tag)[1], "BIES".find(tag[0])))]


def read_tagged_sentences(path: str | os.PathLike, label_names: Sequence[str] | None = None) -> TaggedSentences:
    """Reads a CoNLL file, or JSON Lines for ``.jsonl`` / ``.json``; with ``label_names``, every tag must be one of them."""
    path = os.fspath(path)
    reader = read_tagged_jsonl if os.path.splitext(path)[1].lower() in JSON_LINES_SUFFIXES else read_conll
    return reader(path, label_names)


def read_conll(path: str | os.PathLike, label_names: Sequence[str] | None = None) -> TaggedSentences:
    """Reads a CoNLL file: one ``token ... tag`` line per word, blank lines between sentences.

    ``-DOCSTART-`` lines start a new document and are skipped. Every word line must have the same
    number of columns (at least two); tags must be ``O`` or ``B-``/``I-``/``E-``/``S-`` + a type.
    """
    path = os.fspath(path)
    tokens, tags, documents, lines = [], [], [], []
    sentence, document, columns_seen = [], 0, None

    def end_sentence():
        if sentence:
            tokens.append([token for token, _, _ in sentence])
            tags.append([tag for _, tag, _ in sentence])
            lines.append([line for _, _, line in sentence])
            documents.append(document)
            sentence.clear()

    for line in text_lines(path):
        number, fields = line.number, line.text.split()
        if not fields:
            end_sentence()
            continue
        if fields[0] == DOCUMENT_START:
            end_sentence()
            document += bool(tokens)  # sentences before the first marker belong to document 0
            continue
        if len(fields) < 2:
            raise DataError(path, f"line {number}", "tag",
                            f"missing: expected a token and its tag in the last column, got only {fields[0]!r}")
        if columns_seen is None:
            columns_seen = (len(fields), number)
        elif len(fields) != columns_seen[0]:
            raise DataError(path, f"line {number}", None,
                            f"has {len(fields)} columns but line {columns_seen[1]} has {columns_seen[0]}")
        problem = _tag_problem(fields[-1], label_names)
        if problem:
            raise DataError(path, f"line {number}", "tag", problem)
        sentence.append((fields[0], fields[-1], number))
    end_sentence()
    if not tokens:
        raise DataError(path, None, None, "has no sentences (expected 'token tag' lines, a blank line between sentences)")
    return TaggedSentences(tokens, tags, documents, lines, path)


def read_tagged_jsonl(path: str | os.PathLike, label_names: Sequence[str] | None = None) -> TaggedSentences:
    """Reads JSON Lines of ``{"tokens": [str, ...], "tags": [str, ...]}``, one sentence (and document) per line."""
    path = os.fspath(path)
    tokens, tags, lines = [], [], []
    for found in checked(path, json_lines_records(text_lines(path))):
        number, where, record = found.line, found.where, found.values
        for field in ("tokens", "tags"):
            value = record.get(field)
            if not isinstance(value, list) or not value or not all(isinstance(item, str) and item for item in value):
                raise DataError(path, where, field, f"expected a non-empty list of non-empty strings, got {json.dumps(value)}")
        if len(record["tokens"]) != len(record["tags"]):
            raise DataError(path, where, "tags", f"has {len(record['tags'])} tags for {len(record['tokens'])} tokens")
        for index, tag in enumerate(record["tags"]):
            problem = _tag_problem(tag, label_names)
            if problem:
                raise DataError(path, where, "tags", f"item {index}: {problem}")
        tokens.append(record["tokens"])
        tags.append(record["tags"])
        lines.append([number] * len(record["tokens"]))
    if not tokens:
        raise DataError(path, None, None, "is empty (no JSON records)")
    return TaggedSentences(tokens, tags, list(range(len(tokens))), lines, path)


def _tag_problem(tag: str, label_names: Sequence[str] | None) -> str | None:
    if label_names is not None and tag not in label_names:
        return f"tag {tag!r} is not one of the model's labels {list(label_names)}"
    return tag_problem(tag)

"""Labelled (or unlabelled) text examples: CSV / TSV / JSON Lines files → checked :class:`TextExamples`.

This module owns reading the texts, second texts and labels of a classification data set and
checking every row before any training starts (the labels by :mod:`tfhub_llm.readers.labels`, the
lines and records by :mod:`tfhub_llm.readers.text_files`). Bad input raises
:class:`tfhub_llm.errors.DataError`, whose message names the file, the line (1-based, header
included, as an editor shows it) and the field.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from tfhub_llm.errors import DataError, InvalidArgumentError
from tfhub_llm.readers.labels import CATEGORICAL, LABEL_TYPES, parse_labels, present_label
from tfhub_llm.readers.text_files import (
    JSON_LINES_SUFFIXES,
    checked,
    delimited_records,
    json_lines_records,
    text_field,
    text_lines,
)

_DELIMITER_BY_SUFFIX = {".csv": ",", ".tsv": "\t"}

@dataclasses.dataclass
class TextExamples:
    """Texts (and optional second texts) with their labels, as read from `path`.

    `labels` is int32 class ids (categorical), float32 k-hot rows (multilabel), float32 values
    (regression), or None when the file was read without a label column. `label_names[i]` is
    the name of class id i when labels were strings or a vocabulary was given, else None.
    """

    texts: list[str]
    texts_b: list[str] | None
    labels: np.ndarray | None
    label_names: list[str] | None
    path: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "TextExamples":
        """The examples at `indices`, in that order."""
        return TextExamples(
            texts=[self.texts[i] for i in indices],
            texts_b=None if self.texts_b is None else [self.texts_b[i] for i in indices],
            labels=None if self.labels is None else self.labels[np.asarray(indices, dtype=np.int64)],
            label_names=self.label_names,
            path=self.path,
        )


def read_text_examples(
    path: str | os.PathLike,
    text_column: str,
    label_column: str | None = None,
    text_b_column: str | None = None,
    label_vocabulary: Sequence[str] | None = None,
    label_type: str = CATEGORICAL,
    delimiter: str | None = None,
    num_classes: int | None = None,
) -> TextExamples:
    """Reads and validates a CSV, TSV or JSON Lines file of texts and labels.

    The format follows the suffix (`.csv`, `.tsv`, `.jsonl` / `.json` as JSON Lines) unless
    `delimiter` is given. TSV is read as GLUE writes it: quoting off, a UTF-8 BOM tolerated.

    Labels, by `label_type`:
      * "categorical": strings map through `label_vocabulary` (given, or the sorted set of
        labels found); integer labels (without a vocabulary) are used as class ids and must lie
        in `range(num_classes)` when `num_classes` is given.
      * "multilabel": labels separated by "," or "|" (or a JSON list, where [] means no label)
        → k-hot float32 rows, `num_classes` wide for integer labels (else the largest id + 1).
      * "regression": one finite float per row.
    `num_classes`, when given, also caps the number of distinct string labels. Without
    `label_vocabulary` and `num_classes`, labels that look like a typo are refused, naming the
    line: a label set mixing integers and words, or a class with a single example among
    `labels.RARE_CLASS_MIN_ROWS` rows or more (give either argument to accept them). Empty texts and
    empty or NaN labels are errors. Every row is checked before returning; the first problem
    raises `DataError` naming the file, the line and the field.
    """
    if label_type not in LABEL_TYPES:
        raise InvalidArgumentError(f"label_type must be one of {LABEL_TYPES}, got {label_type!r}")
    if num_classes is not None and num_classes < 1:
        raise InvalidArgumentError(f"num_classes must be >= 1, got {num_classes}")
    path = os.fspath(path)
    columns = [c for c in (text_column, text_b_column, label_column) if c is not None]
    texts, texts_b, raw_labels = _checked_fields(path, _read_records(path, columns, delimiter),
                                                 text_column, text_b_column, label_column)
    if not texts:
        raise DataError(path, None, None, "has a header line but no rows" if _is_delimited(path, delimiter)
                        else "is empty (no JSON records)")

    labels, label_names = None, None
    if label_column is not None:
        labels, label_names = parse_labels(
            path, label_column, raw_labels, label_type, label_vocabulary, num_classes)
    return TextExamples(texts=texts, texts_b=texts_b if text_b_column is not None else None,
                        labels=labels, label_names=label_names, path=path)


def _checked_fields(path, records, text_column, text_b_column, label_column):
    """Texts, second texts and ``(where, raw label)`` pairs of ``records``; a DataError at the first empty field."""
    texts, texts_b, raw_labels = [], [], []
    for where, record in records:
        texts.append(text_field(path, where, record, text_column))
        if text_b_column is not None:
            texts_b.append(text_field(path, where, record, text_b_column))
        if label_column is not None:
            raw_labels.append((where, present_label(path, where, label_column, record[label_column])))
    return texts, texts_b, raw_labels


def _is_delimited(path: str, delimiter: str | None) -> bool:
    return delimiter is not None or os.path.splitext(path)[1].lower() in _DELIMITER_BY_SUFFIX


def _read_records(path: str, columns: list[str], delimiter: str | None) -> list[tuple[str, dict]]:
    """All records of the file as (where, {column: value}), columns checked to exist."""
    suffix = os.path.splitext(path)[1].lower()
    if delimiter is None and suffix not in _DELIMITER_BY_SUFFIX and suffix not in JSON_LINES_SUFFIXES:
        raise DataError(path, None, None,
                        f"cannot tell the format from the suffix {suffix!r}: use .csv, .tsv, "
                        ".jsonl or .json (JSON Lines), or pass delimiter=")
    if _is_delimited(path, delimiter):
        return _delimited_rows(path, delimiter or _DELIMITER_BY_SUFFIX[suffix], columns)
    records = []
    for record in checked(path, json_lines_records(text_lines(path))):
        for column in columns:
            if column not in record.values:
                raise DataError(path, record.where, column,
                                f"missing; this record has the fields {sorted(record.values)}")
        records.append((record.where, record.values))
    return records


def _delimited_rows(path: str, delimiter: str, columns: list[str]) -> list[tuple[str, dict]]:
    header, rows = None, []
    for record in checked(path, delimited_records(text_lines(path), delimiter)):
        if record.columns is None:
            rows.append((record.where, record.values))
            continue
        header = record.columns
        for column in columns:
            if column not in header:
                raise DataError(path, "line 1 (header)", column, f"no such column; the columns are {header}")
    if header is None:
        raise DataError(path, None, None, "is empty")
    return rows

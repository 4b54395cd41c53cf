"""Text-classification data: CSV / TSV / JSONL files → validated examples → `tf.data`.

This module owns reading labelled (or unlabelled) text files, checking every row before any
training starts, and turning the result into batched `tf.data.Dataset`s. Bad input raises
`tfhub_llm.errors.DataError` (importable from here too), whose message names the file, the line
(1-based, header included, as an editor shows it) or record, and the field.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import math
import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfhub_llm.errors import DataError, InvalidArgumentError

CATEGORICAL, MULTILABEL, REGRESSION = LABEL_TYPES = ("categorical", "multilabel", "regression")
_DELIMITER_BY_SUFFIX = {".csv": ",", ".tsv": "\t"}
_JSON_LINES_SUFFIXES = (".jsonl", ".json")
_MULTILABEL_SEPARATOR = re.compile(r"[,|]")
_INTEGER = re.compile(r"[+-]?\d+")
RARE_CLASS_MIN_ROWS = 1000  # in a file this long, an inferred class with a single example is taken for a typo


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


def label_type_for(num_classes: int, multi_label: bool = False) -> str:
    """The label type of a classifier with ``num_classes`` outputs: one output is a regression."""
    return REGRESSION if num_classes == 1 else MULTILABEL if multi_label else CATEGORICAL


def read_text_examples(
    path,
    text_column: str,
    label_column: str | None = None,
    text_b_column: str | None = None,
    label_vocabulary: Sequence[str] | None = None,
    label_type: str = "categorical",
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
    `RARE_CLASS_MIN_ROWS` rows or more (give either argument to accept them). Empty texts and
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
        labels, label_names = _parse_labels(
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
            raw_labels.append((where, _present_label(path, where, label_column, record[label_column])))
    return texts, texts_b, raw_labels


def to_dataset(examples: TextExamples, batch_size: int, shuffle: bool = True,
               seed: int | None = None) -> tf.data.Dataset:
    """Batches `examples` as `(x, y)`: x a string batch, or `{"text", "text_b"}` for pairs.

    Without labels the dataset yields x alone. Shuffling draws a new order each epoch, the
    sequence of orders fixed by `seed`.
    """
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    x = examples.texts if examples.texts_b is None else {
        "text": examples.texts, "text_b": examples.texts_b}
    elements = x if examples.labels is None else (x, examples.labels)
    dataset = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


SPLITS = ("rows", "sentences")


def split_examples(examples: TextExamples, validation_fraction: float, seed: int,
                   by: str = "rows") -> tuple[TextExamples, TextExamples]:
    """Splits into (train, validation) by a seeded permutation; each keeps file order.

    ``by="rows"`` holds out a fraction of the rows. ``by="sentences"`` is for phrase treebanks such
    as SST-2, whose rows are every phrase of every sentence's parse tree: it holds out a fraction of
    the whole sentences (rows that are no word span of a longer row), keeps one row per held-out
    sentence, and drops from training every row that is a word span of a held-out sentence, so no
    held-out sentence is seen in part.
    """
    if by not in SPLITS:
        raise InvalidArgumentError(f"by must be one of {SPLITS}, got {by!r}")
    candidates = _whole_sentences(examples.texts) if by == "sentences" else np.arange(len(examples))
    size = len(candidates)
    unit = "whole sentences" if by == "sentences" else "examples"
    validation = np.sort(candidates[seeded_holdout(size, validation_fraction, seed, f"{size} {unit} from {examples.path}")])
    if by == "sentences":
        held_out_spans = set()
        for index in validation:
            held_out_spans |= _word_spans(examples.texts[index].split())
        train = [i for i, text in enumerate(examples.texts) if " ".join(text.split()) not in held_out_spans]
    else:
        train = np.setdiff1d(np.arange(size), validation)
    return examples.subset(train), examples.subset(validation)


def seeded_holdout(count: int, validation_fraction: float, seed: int, what: str) -> np.ndarray:
    """Which of ``count`` units a seeded permutation holds out: the first ``round(count * validation_fraction)``
    of ``np.random.default_rng(seed).permutation(count)``; ``what`` names the units when a side would be empty."""
    if not 0.0 < validation_fraction < 1.0:
        raise InvalidArgumentError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    num_validation = int(round(count * validation_fraction))
    if not 0 < num_validation < count:
        raise InvalidArgumentError(
            f"validation_fraction={validation_fraction} of {what} leaves {num_validation} for validation and "
            f"{count - num_validation} for training; both need at least one")
    return np.random.default_rng(seed).permutation(count)[:num_validation]


def _whole_sentences(texts: list[str]) -> np.ndarray:
    """Indices of the rows that are no word span of a longer row (the first row of each such text)."""
    inside_longer, seen, whole = set(), set(), []
    for index in sorted(range(len(texts)), key=lambda i: -len(texts[i].split())):
        words = texts[index].split()
        key = " ".join(words)
        if key in inside_longer or key in seen:
            continue  # a span of a longer row, whose spans are already recorded, or a repeat
        seen.add(key)
        whole.append(index)
        inside_longer |= _word_spans(words) - {key}
    return np.sort(np.asarray(whole, dtype=np.int64))


def _word_spans(words: list[str]) -> set[str]:
    """Every contiguous run of ``words``, joined by single spaces."""
    return {" ".join(words[start:end]) for start in range(len(words)) for end in range(start + 1, len(words) + 1)}


def _is_delimited(path: str, delimiter: str | None) -> bool:
    return delimiter is not None or os.path.splitext(path)[1].lower() in _DELIMITER_BY_SUFFIX


def _read_records(path: str, columns: list[str], delimiter: str | None) -> list[tuple[str, dict]]:
    """All records of the file as (location, {column: value}), columns checked to exist."""
    suffix = os.path.splitext(path)[1].lower()
    if delimiter is None and suffix not in _DELIMITER_BY_SUFFIX and suffix not in _JSON_LINES_SUFFIXES:
        raise DataError(path, None, None,
                        f"cannot tell the format from the suffix {suffix!r}: use .csv, .tsv, "
                        ".jsonl or .json (JSON Lines), or pass delimiter=")
    file = io.StringIO(read_utf8(path), newline="")
    if delimiter is not None or suffix in _DELIMITER_BY_SUFFIX:
        return list(_delimited_records(path, file, delimiter or _DELIMITER_BY_SUFFIX[suffix], columns))
    return list(_json_lines_records(path, file, columns))


def read_utf8(path: str) -> str:
    """A data file's text without a BOM, for these readers and tasks/conll's; bad UTF-8 is a DataError at line and byte."""
    try:
        with open(path, "rb") as file:
            content = file.read()
    except FileNotFoundError:
        raise DataError(path, None, None, "no such file") from None
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[:error.start].count(b"\n") + 1
        raise DataError(path, f"line {line}", None,
                        f"is not valid UTF-8 ({error.reason} at byte {error.start})") from None


def _delimited_records(path, file, delimiter, columns):
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(file, delimiter=delimiter, quoting=quoting)
    _, header = _next_row(path, reader)
    if header is None:
        raise DataError(path, None, None, "is empty")
    for column in columns:
        if column not in header:
            raise DataError(path, "line 1 (header)", column,
                            f"no such column; the columns are {header}")
    while True:
        line, row = _next_row(path, reader)
        if row is None:
            return
        if len(row) != len(header):
            raise DataError(path, f"line {line}", None,
                            f"has {len(row)} fields but the header has {len(header)}")
        yield f"line {line}", dict(zip(header, row))


def _next_row(path, reader) -> tuple[int, list[str] | None]:
    """(first line, fields) of the next non-blank row; fields are None at the end of the file."""
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return line, None
        except csv.Error as error:
            raise DataError(path, f"line {line}", None, f"malformed row ({error})") from None
        if row:
            return line, row


def _json_lines_records(path, file, columns):
    for number, record in json_lines_objects(path, file):
        where = f"line {number}"
        for column in columns:
            if column not in record:
                raise DataError(path, where, column,
                                f"missing; this record has the fields {sorted(record)}")
        yield where, record


def json_lines_objects(path, lines):
    """(line number, object) of each non-blank line, for these readers and tasks/conll's; other JSON is a DataError."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"line {number}", None,
                            f"not valid JSON ({error.msg} at column {error.colno}); "
                            "files are read as JSON Lines, one object per line") from None
        if not isinstance(record, dict):
            raise DataError(path, f"line {number}", None, f"expected a JSON object, got {type(record).__name__}")
        yield number, record


def text_field(path, where, record, column) -> str:
    """``record[column]`` as a non-blank string; a DataError names the file, where and the column otherwise
    (for these readers and :mod:`tfhub_llm.batch.readers`)."""
    value = record[column]
    if not isinstance(value, str):
        raise DataError(path, where, column, f"expected a string, got {json.dumps(value)}")
    if not value.strip():
        raise DataError(path, where, column, "empty text")
    return value


def _present_label(path, where, column, value):
    """The label value, stripped if a string; raises for empty, null or NaN labels."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "" or (isinstance(value, str) and value.lower() == "nan") or (
            isinstance(value, float) and math.isnan(value)):
        raise DataError(path, where, column, f"empty or NaN label ({json.dumps(value)})")
    if isinstance(value, bool):
        raise DataError(path, where, column, f"expected a label, got the boolean {json.dumps(value)}")
    return value


def _parse_labels(path, column, raw_labels, label_type, vocabulary, num_classes):
    if label_type == "regression":
        values = [_regression_value(path, where, column, value) for where, value in raw_labels]
        return np.asarray(values, dtype=np.float32), None
    if label_type == "multilabel":
        per_row = [(where, _multilabel_parts(path, where, column, value)) for where, value in raw_labels]
    else:
        per_row = [(where, [_categorical_value(path, where, column, value)]) for where, value in raw_labels]

    ids_per_row, label_names, width = _label_ids(path, column, per_row, vocabulary, num_classes)
    if label_type == "categorical":
        return np.asarray([ids[0] for ids in ids_per_row], dtype=np.int32), label_names
    k_hot = np.zeros((len(ids_per_row), width), dtype=np.float32)
    for row, ids in enumerate(ids_per_row):
        k_hot[row, ids] = 1.0
    return k_hot, label_names


def _label_ids(path, column, per_row, vocabulary, num_classes):
    """Maps each row's label values to class ids; returns (ids per row, names, class count)."""
    all_integers = all(_INTEGER.fullmatch(v) for _, values in per_row for v in values)
    if vocabulary is None and num_classes is None:
        _refuse_stray_labels(path, column, per_row)
    if vocabulary is None and all_integers:
        ids_per_row = [[int(v) for v in values] for _, values in per_row]
        for (where, _), ids in zip(per_row, ids_per_row):
            for value in ids:
                if value < 0 or (num_classes is not None and value >= num_classes):
                    allowed = f"range(num_classes={num_classes})" if num_classes else "non-negative ids"
                    raise DataError(path, where, column, f"label {value} is outside {allowed}")
        width = num_classes or 1 + max((i for ids in ids_per_row for i in ids), default=0)
        return ids_per_row, None, width

    if vocabulary is None:
        vocabulary = sorted({v for _, values in per_row for v in values})
        if num_classes is not None and len(vocabulary) > num_classes:
            raise DataError(path, None, column,
                            f"found {len(vocabulary)} distinct labels {vocabulary} but num_classes={num_classes}")
    else:
        vocabulary = [str(name) for name in vocabulary]
        if len(set(vocabulary)) != len(vocabulary):
            raise InvalidArgumentError(f"label_vocabulary has duplicates: {vocabulary}")
        if num_classes is not None and len(vocabulary) != num_classes:
            raise InvalidArgumentError(f"label_vocabulary has {len(vocabulary)} names but num_classes={num_classes}")
    index = {name: i for i, name in enumerate(vocabulary)}
    ids_per_row = []
    for where, values in per_row:
        ids = []
        for value in values:
            if value not in index:
                raise DataError(path, where, column,
                                f"label {value!r} is not in the label set {vocabulary}")
            ids.append(index[value])
        ids_per_row.append(ids)
    return ids_per_row, vocabulary, len(vocabulary)


def _refuse_stray_labels(path, column, per_row):
    """Raises DataError at the first label that looks like a typo: one kind among the other, or a lone class."""
    found = [(where, value) for where, values in per_row for value in values]
    integers = [(where, value) for where, value in found if _INTEGER.fullmatch(value)]
    words = [(where, value) for where, value in found if not _INTEGER.fullmatch(value)]
    if integers and words:
        stray, others, kind = (words, integers, "a word") if len(words) <= len(integers) else (
            integers, words, "an integer")
        where, value = stray[0]
        raise DataError(path, where, column,
                        f"label {value!r} is {kind} among {len(others)} labels of the other kind; fix the row, or "
                        "give the classes (--label-names / label_vocabulary, or --num-classes) to keep it")
    if len(per_row) >= RARE_CLASS_MIN_ROWS:
        counts = collections.Counter(value for _, value in found)
        for where, value in found:
            if counts[value] == 1:
                raise DataError(path, where, column,
                                f"label {value!r} occurs once in {len(per_row)} rows (a typo?); fix the row, or give "
                                "the classes (--label-names / label_vocabulary, or --num-classes) to keep it")


def _categorical_value(path, where, column, value) -> str:
    """A class label as text: a JSON integer becomes its decimal string."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise DataError(path, where, column,
                    f"expected an integer or string label, got {json.dumps(value)}")


def _multilabel_parts(path, where, column, value) -> list:
    if isinstance(value, list):
        parts = [part.strip() if isinstance(part, str) else part for part in value]
    elif isinstance(value, str):
        parts = [part.strip() for part in _MULTILABEL_SEPARATOR.split(value)]
    else:
        raise DataError(path, where, column,
                        f"expected labels separated by ',' or '|', or a JSON list, got {json.dumps(value)}")
    for part in parts:
        if part == "" or part is None:
            raise DataError(path, where, column, f"empty label in {json.dumps(value)}")
    return [_categorical_value(path, where, column, part) for part in parts]


def _regression_value(path, where, column, value) -> float:
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise DataError(path, where, column, f"expected a number, got {json.dumps(value)}") from None
    if not math.isfinite(number):
        raise DataError(path, where, column, f"expected a finite number, got {json.dumps(value)}")
    return number

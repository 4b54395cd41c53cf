"""Label types and label parsing: the raw label fields of a file's rows → class ids, k-hot rows or values.

A classifier's labels are one of three types: ``CATEGORICAL`` (one class per row, int32 class ids),
``MULTILABEL`` (any number of classes per row, float32 k-hot rows) or ``REGRESSION`` (one float32
value per row); :func:`label_type_for` says which one a head with a number of outputs trains on.
:func:`parse_labels` checks every raw label and raises :class:`tfhub_llm.errors.DataError` naming the
file, the line and the column at the first bad one, including labels that look like a typo.
"""

from __future__ import annotations

import collections
import json
import math
import re
from typing import Sequence

import numpy as np

from tfhub_llm.errors import DataError, InvalidArgumentError

CATEGORICAL, MULTILABEL, REGRESSION = LABEL_TYPES = ("categorical", "multilabel", "regression")
_MULTILABEL_SEPARATOR = re.compile(r"[,|]")
_INTEGER = re.compile(r"[+-]?\d+")
RARE_CLASS_MIN_ROWS = 1000  # in a file this long, an inferred class with a single example is taken for a typo


def label_type_for(num_classes: int, multi_label: bool = False) -> str:
    """The label type of a classifier with ``num_classes`` outputs: one output is a regression."""
    return REGRESSION if num_classes == 1 else MULTILABEL if multi_label else CATEGORICAL


def present_label(path: str, where: str, column: str, value: object) -> object:
    """The label value, stripped if a string; raises for empty, null or NaN labels."""
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "" or (isinstance(value, str) and value.lower() == "nan") or (
            isinstance(value, float) and math.isnan(value)):
        raise DataError(path, where, column, f"empty or NaN label ({json.dumps(value)})")
    if isinstance(value, bool):
        raise DataError(path, where, column, f"expected a label, got the boolean {json.dumps(value)}")
    return value


def parse_labels(path: str, column: str, raw_labels: Sequence[tuple[str, object]], label_type: str,
                 vocabulary: Sequence[str] | None, num_classes: int | None) -> tuple[np.ndarray, list[str] | None]:
    """(labels, label names) of ``raw_labels``, ``(where, value)`` pairs as :func:`present_label` returns the values.

    The rules by ``label_type`` are those of :func:`tfhub_llm.readers.text_examples.read_text_examples`.
    """
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

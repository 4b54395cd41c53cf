"""SQuAD v1.1 / v2.0 JSON → checked :class:`SquadExample`\ s, one per question.

:func:`read_squad` checks every article, paragraph and question, and that every answer's
``answer_start`` points at its text; errors (:class:`tfhub_llm.errors.DataError`) name the file, the
article and paragraph, the question id and the field. Turning examples into model features is
:mod:`tfhub_llm.tasks.qa_features`; the official metric is :mod:`tfhub_llm.tasks.squad`.
"""

from __future__ import annotations

import dataclasses
import json
import os

from tfhub_llm.errors import DataError
from tfhub_llm.readers.text_files import read_utf8


@dataclasses.dataclass
class SquadExample:
    """One question on one context; `answers` holds (text, character start) pairs."""

    qas_id: str
    question: str
    context: str
    answers: list[tuple[str, int]]
    is_impossible: bool = False


def load_squad_json(path: str | os.PathLike) -> dict:
    """Parses a SQuAD JSON file; errors name the file and the line."""
    path = os.fspath(path)
    try:
        return json.loads(read_utf8(path))
    except json.JSONDecodeError as error:
        raise DataError(path, f"line {error.lineno}", None,
                        f"not valid JSON ({error.msg} at column {error.colno})") from None


def read_squad(source: str | os.PathLike | dict, path: str | os.PathLike | None = None) -> list[SquadExample]:
    """Reads SQuAD JSON (a path, or the already parsed dict with "data") into examples.

    A question without answers that is not marked `is_impossible` is read as unlabelled (for
    prediction). Errors name the file, the article and paragraph, the question id and the field;
    `path` names the file an already parsed dict came from.
    """
    if isinstance(source, dict):
        path, dataset = os.fspath(path) if path is not None else "<SQuAD dict>", source
    else:
        path, dataset = os.fspath(source), load_squad_json(source)
    articles = dataset.get("data") if isinstance(dataset, dict) else None
    if not isinstance(articles, list):
        raise DataError(path, None, "data", 'expected a JSON object with a "data" list of articles')

    examples, seen_ids = [], {}
    for article_index, article in enumerate(articles):
        title = article.get("title", "") if isinstance(article, dict) else ""
        article_where = f"article {article_index} ({title!r})" if title else f"article {article_index}"
        paragraphs = _field(path, article_where, article, "paragraphs", list)
        for paragraph_index, paragraph in enumerate(paragraphs):
            where = f"{article_where}, paragraph {paragraph_index}"
            context = _field(path, where, paragraph, "context", str)
            for qa_index, qa in enumerate(_field(path, where, paragraph, "qas", list)):
                qa_where = f"{where}, question {qa_index}"
                qas_id = str(_field(path, qa_where, qa, "id", (str, int)))
                qa_where = f"{where}, question id {qas_id!r}"
                if qas_id in seen_ids:
                    raise DataError(path, qa_where, "id", f"duplicate question id (first at {seen_ids[qas_id]})")
                seen_ids[qas_id] = qa_where
                examples.append(_read_question(path, qa_where, qa, qas_id, context))
    if not examples:
        raise DataError(path, None, "data", "contains no questions")
    return examples


def _read_question(path, where, qa, qas_id, context) -> SquadExample:
    question = _field(path, where, qa, "question", str)
    if not question.strip():
        raise DataError(path, where, "question", "empty question")
    is_impossible = qa.get("is_impossible", False)
    if not isinstance(is_impossible, bool):
        raise DataError(path, where, "is_impossible", f"expected true or false, got {json.dumps(is_impossible)}")
    answers = []
    for answer_index, answer in enumerate(_field(path, where, qa, "answers", list)):
        answer_where = f"{where}, answer {answer_index}"
        text = _field(path, answer_where, answer, "text", str)
        start = _field(path, answer_where, answer, "answer_start", int)
        if not text:
            raise DataError(path, answer_where, "text", "empty answer text")
        if isinstance(start, bool) or start < 0 or context[start:start + len(text)] != text:
            found = context[max(start, 0):max(start, 0) + len(text)]
            raise DataError(path, answer_where, "answer_start",
                            f"{start} does not point at the answer text {text!r} "
                            f"(the context has {found!r} there)")
        answers.append((text, start))
    if is_impossible and answers:
        raise DataError(path, where, "answers", "a question marked is_impossible has answers")
    return SquadExample(qas_id=qas_id, question=question, context=context,
                        answers=answers, is_impossible=is_impossible)


def _field(path, where, record, name, kind):
    if not isinstance(record, dict):
        raise DataError(path, where, None, f"expected a JSON object, got {type(record).__name__}")
    if name not in record:
        raise DataError(path, where, name, f"missing; this object has the fields {sorted(record)}")
    value = record[name]
    if not isinstance(value, kind):
        raise DataError(path, where, name, f"expected {_kind_name(kind)}, got {json.dumps(value)[:80]}")
    return value


def _kind_name(kind) -> str:
    names = {str: "a string", int: "an integer", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names[k] for k in kinds)

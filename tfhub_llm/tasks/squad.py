"""SQuAD v1.1 / v2.0: the JSON reader, the official EM / F1 metric, and a first-sentence baseline.

`read_squad` turns the official JSON into `SquadExample`s, checking that every answer's
`answer_start` points at its text. `squad_evaluate` scores {question id: answer text}
predictions the way the official evaluation scripts do (v1.1 rules for data without
unanswerable questions, v2.0 rules otherwise).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import string

from tfhub_llm.errors import DataError, InvalidArgumentError, InvalidArgumentTypeError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_FIRST_SENTENCE = re.compile(r"\S.*?[.!?](?=\s|$)", re.DOTALL)


@dataclasses.dataclass
class SquadExample:
    """One question on one context; `answers` holds (text, character start) pairs."""

    qas_id: str
    question: str
    context: str
    answers: list[tuple[str, int]]
    is_impossible: bool = False


def load_squad_json(path) -> dict:
    """Parses a SQuAD JSON file; errors name the file and the line."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except json.JSONDecodeError as error:
        raise DataError(path, f"line {error.lineno}", None,
                        f"not valid JSON ({error.msg} at column {error.colno})") from None
    except FileNotFoundError:
        raise DataError(path, None, None, "no such file") from None


def read_squad(source, path=None) -> list[SquadExample]:
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


def normalize_answer(text: str) -> str:
    """The official normalisation: lower-case, drop punctuation, drop a/an/the, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(gold: str, prediction: str) -> int:
    """1 when the normalised texts are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def f1_score(gold: str, prediction: str, version_2: bool = True) -> float:
    """Bag-of-tokens F1 of the normalised texts.

    When either side normalises to nothing, v2.0 gives 1.0 if both do and 0.0 otherwise; the
    v1.1 script gives 0.0 in every such case.
    """
    gold_tokens = normalize_answer(gold).split()
    predicted_tokens = normalize_answer(prediction).split()
    if version_2 and (not gold_tokens or not predicted_tokens):
        return float(gold_tokens == predicted_tokens)
    overlap = sum((collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_evaluate(dataset: dict, predictions: dict[str, str]) -> dict:
    """Exact match and F1 (0-100) of `predictions` {question id: answer text} on `dataset`.

    Follows the official scripts: each prediction scores its maximum over the gold answers.
    Data with unanswerable questions (or "version" v2.x) uses the v2.0 rules: gold answers that
    normalise to nothing are dropped, an unanswerable question's only gold answer is "", and
    HasAns_* / NoAns_* breakdowns are added. A question without a prediction is scored as if
    "" had been predicted and counts in every total; the v1.1 script scores it 0 (the same for
    answerable questions) while the v2.0 script leaves it out of the total and cannot report
    the breakdowns. `missing_predictions` counts such questions.
    """
    questions = [qa for article in dataset["data"] for paragraph in article["paragraphs"]
                 for qa in paragraph["qas"]]
    if not questions:
        raise InvalidArgumentError("the dataset has no questions to evaluate")
    version_2 = str(dataset.get("version", "")).lstrip("v").startswith("2") or any(
        not qa["answers"] for qa in questions)

    exact, f1, has_answer, missing = {}, {}, {}, 0
    for qa in questions:
        qid = str(qa["id"])
        golds = [answer["text"] for answer in qa["answers"]]
        if version_2:
            golds = [gold for gold in golds if normalize_answer(gold)] or [""]
        prediction = predictions.get(qid)
        if prediction is None:
            missing += 1
            prediction = ""
        elif not isinstance(prediction, str):
            raise InvalidArgumentTypeError(f"prediction for question id {qid!r} must be a string, got {prediction!r}")
        exact[qid] = max(exact_match_score(gold, prediction) for gold in golds)
        f1[qid] = max(f1_score(gold, prediction, version_2) for gold in golds)
        has_answer[qid] = bool(qa["answers"])

    result = {**_averages(exact, f1, list(exact)), "missing_predictions": missing}
    if version_2:
        for prefix, wanted in (("HasAns", True), ("NoAns", False)):
            qids = [qid for qid, has in has_answer.items() if has == wanted]
            if qids:
                breakdown = _averages(exact, f1, qids)
                result.update({f"{prefix}_exact": breakdown["exact_match"],
                               f"{prefix}_f1": breakdown["f1"],
                               f"{prefix}_total": breakdown["total"]})
    return result


def _averages(exact, f1, qids) -> dict:
    total = len(qids)
    return {"exact_match": 100.0 * sum(exact[q] for q in qids) / total,
            "f1": 100.0 * sum(f1[q] for q in qids) / total,
            "total": total}


def first_sentence_baseline(examples: list[SquadExample]) -> dict[str, str]:
    """{question id: the first sentence of its context}: a floor for the quality comparison."""
    baseline = {}
    for example in examples:
        match = _FIRST_SENTENCE.search(example.context)
        baseline[example.qas_id] = match.group(0) if match else example.context.strip()
    return baseline

"""SQuAD v1.1 / v2.0: the official EM / F1 metric, and a first-sentence baseline.

`squad_evaluate` scores {question id: answer text} predictions the way the official evaluation
scripts do (v1.1 rules for data without unanswerable questions, v2.0 rules otherwise). Reading
SQuAD JSON into examples is :mod:`tfhub_llm.readers.squad`.
"""

from __future__ import annotations

import collections
import re
import string

from tfhub_llm.errors import InvalidArgumentError, InvalidArgumentTypeError
from tfhub_llm.readers.squad import SquadExample

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_FIRST_SENTENCE = re.compile(r"\S.*?[.!?](?=\s|$)", re.DOTALL)


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

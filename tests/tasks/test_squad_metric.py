"""The official SQuAD EM / F1 metric, checked against hand-computed cases, and the first-sentence baseline."""

import json

import pytest

from tests.harness import DATA
from tfhub_llm.readers.squad import SquadExample, read_squad
from tfhub_llm.tasks.squad import f1_score, first_sentence_baseline, normalize_answer, squad_evaluate

SQUAD_V2 = str(DATA / "squad" / "train-v2.0-first10articles.json")


def squad(questions, version="v2.0"):
    """A one-paragraph dataset; `questions` maps id → list of gold answer texts."""
    context = " ".join(text for golds in questions.values() for text in golds) or "nothing"
    qas = [{"id": qid, "question": "?", "is_impossible": not golds,
            "answers": [{"text": t, "answer_start": context.index(t)} for t in golds]}
           for qid, golds in questions.items()]
    return {"version": version, "data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}]}


@pytest.mark.parametrize("text, normalized", [
    ("The  Quick, brown fox!", "quick brown fox"),
    ("an apple a day", "apple day"),
    ("theater and another", "theater and another"),   # articles only as whole words
    ("A.B.C.", "abc"),                                 # punctuation goes before the article rule
    ("the-end", "theend"),
    ("  Levi's\tStadium \n", "levis stadium"),
    ("Æsir “quoted”", "æsir “quoted”"),               # only ASCII punctuation is dropped
])
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_v1_scores_take_the_best_gold_answer():
    dataset = squad({
        "q1": ["Denver Broncos", "the Denver Broncos"],
        "q2": ["Santa Clara, California", "Levi's Stadium"],
        "q3": ["1990s"],
        "q4": ["Paris"],
    }, version="1.1")
    predictions = {
        "q1": "Denver Broncos!",                  # EM 1, F1 1
        "q2": "Levi's Stadium in Santa Clara",    # EM 0, F1 max(1/2, 4/7) = 4/7
        "q3": "late 1990s",                       # EM 0, F1 2/3
    }                                             # q4 missing: 0, 0
    result = squad_evaluate(dataset, predictions)
    assert result["exact_match"] == pytest.approx(25.0)
    assert result["f1"] == pytest.approx(100 * (1 + 4 / 7 + 2 / 3 + 0) / 4)
    assert result["total"] == 4 and result["missing_predictions"] == 1
    assert "HasAns_total" not in result


def test_v2_scores_unanswerable_questions_with_breakdowns():
    dataset = squad({"q1": ["Denver Broncos"], "q2": [], "q3": [], "q4": [], "q5": ["Paris"]})
    predictions = {"q1": "Denver", "q2": "", "q3": "something", "q5": ""}  # q4 missing → ""
    result = squad_evaluate(dataset, predictions)
    assert result == pytest.approx({
        "exact_match": 100 * 2 / 5, "f1": 100 * (2 / 3 + 1 + 0 + 1 + 0) / 5, "total": 5,
        "missing_predictions": 1,
        "HasAns_exact": 0.0, "HasAns_f1": 100 * (2 / 3) / 2, "HasAns_total": 2,
        "NoAns_exact": 100 * 2 / 3, "NoAns_f1": 100 * 2 / 3, "NoAns_total": 3,
    })


def test_answers_that_normalise_to_nothing_follow_each_versions_rules():
    # v1.1 keeps the gold "The" and gives F1 0 when a side has no tokens; v2.0 drops it for "".
    assert f1_score("The", "a", version_2=False) == 0.0
    assert f1_score("The", "a", version_2=True) == 1.0
    assert f1_score("Paris", "", version_2=True) == 0.0
    v1 = squad_evaluate(squad({"q": ["The"]}, version="1.1"), {"q": "a"})
    v2 = squad_evaluate(squad({"q": ["The"]}, version="v2.0"), {"q": "a"})
    assert (v1["exact_match"], v1["f1"]) == (100.0, 0.0)
    assert (v2["exact_match"], v2["f1"]) == (100.0, 100.0)


def test_perfect_and_empty_predictions_on_real_squad_v2():
    with open(SQUAD_V2, encoding="utf-8") as file:
        dataset = json.load(file)
    examples = read_squad(dataset)
    gold = {e.qas_id: e.answers[0][0] if e.answers else "" for e in examples}
    assert squad_evaluate(dataset, gold)["exact_match"] == 100.0
    empty = squad_evaluate(dataset, {})
    unanswerable = sum(e.is_impossible for e in examples)
    assert empty["exact_match"] == pytest.approx(100 * unanswerable / len(examples))
    assert empty["NoAns_exact"] == 100.0 and empty["HasAns_f1"] == 0.0


def test_non_string_predictions_are_refused():
    with pytest.raises(TypeError, match="'q1'"):
        squad_evaluate(squad({"q1": ["x"]}), {"q1": ["x"]})


def test_first_sentence_baseline():
    examples = [SquadExample("q1", "?", "  It rained. Then it stopped!", []),
                SquadExample("q2", "?", "No full stop here", []),
                SquadExample("q3", "?", "Version 2.0 shipped? Yes.", [])]
    assert first_sentence_baseline(examples) == {
        "q1": "It rained.", "q2": "No full stop here", "q3": "Version 2.0 shipped?"}

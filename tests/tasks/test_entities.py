"""evaluate_entities and entity chunking: hand-computed cases, properties, and seqeval's own results.

``tests/reference/entity_metric_cases.json`` holds seqeval 1.2.2's scores of hand-picked and random
tag sequences (written by ``scripts/make_entity_reference.py`` in a venv with seqeval), so this file
needs no seqeval.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.harness import REFERENCE_DIR
from tfhub_llm.tasks.entities import (
    capitalised_baseline,
    chunk_boundary_tables,
    entity_spans,
    evaluate_entities,
    most_frequent_type,
)

REFERENCE = REFERENCE_DIR / "entity_metric_cases.json"
TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def test_hand_computed_micro_and_per_type_scores():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC", "I-LOC"]]
    predicted = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O", "B-LOC", "O"]]
    # gold: PER 0-1, LOC 3, ORG 5, LOC 7-8 (sentences joined by an O); predicted: PER 0-1, ORG 5, LOC 7
    scores = evaluate_entities(gold, predicted)
    assert (scores["correct"], scores["predicted"], scores["support"]) == (2, 3, 4)
    assert scores["precision"] == pytest.approx(200 / 3) and scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5) * 100)
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2,
                                         "predicted": 1, "correct": 0}
    assert scores["per_type"]["PER"]["f1"] == scores["per_type"]["ORG"]["f1"] == 100.0


def test_invalid_sequences_are_chunked_as_conlleval_does():
    assert entity_spans(["O", "I-PER", "I-PER", "O"]) == [("PER", 1, 3)]  # I- after O opens an entity
    assert entity_spans(["B-PER", "I-LOC"]) == [("PER", 0, 1), ("LOC", 1, 2)]  # a type change splits
    assert entity_spans(["I-LOC", "B-LOC"]) == [("LOC", 0, 1), ("LOC", 1, 2)]  # IOB1's adjacent entities
    assert entity_spans(["S-PER", "B-LOC", "E-LOC", "E-LOC"]) == [("PER", 0, 1), ("LOC", 1, 3), ("LOC", 3, 4)]
    assert entity_spans([]) == [] and entity_spans(["O", "O"]) == []


def test_no_entities_score_zero_and_mismatched_lengths_are_refused():
    assert evaluate_entities([["O"]], [["O"]])["f1"] == 0.0
    assert evaluate_entities([["B-PER"]], [["O"]])["per_type"]["PER"]["recall"] == 0.0
    with pytest.raises(ValueError, match="sentence 1 has 2 gold tags but 1 predicted"):
        evaluate_entities([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        evaluate_entities([["O"], ["O"]], [["O"]])


def test_scores_match_seqeval_on_every_reference_case():
    document = json.loads(REFERENCE.read_text())
    assert len(document["cases"]) > 100
    for case in document["cases"]:
        ours, theirs = evaluate_entities(case["gold"], case["predicted"]), case["seqeval"]
        for key in ("precision", "recall", "f1"):
            assert ours[key] == pytest.approx(theirs[key], abs=1e-9), (case["name"], key)
        assert set(ours["per_type"]) == set(theirs["per_type"]), case["name"]
        for name, scores in theirs["per_type"].items():
            for key, value in scores.items():
                assert ours["per_type"][name][key] == pytest.approx(value, abs=1e-9), (case["name"], name, key)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(TAGS), max_size=8), min_size=1, max_size=4))
def test_perfect_predictions_score_100_and_precision_recall_swap(gold):
    scores = evaluate_entities(gold, gold)
    has_entities = any(entity_spans(tags) for tags in gold)
    assert scores["f1"] == (100.0 if has_entities else 0.0)
    other = [[TAGS[(TAGS.index(tag) + 1) % len(TAGS)] for tag in tags] for tags in gold]
    forward, backward = evaluate_entities(gold, other), evaluate_entities(other, gold)
    assert forward["precision"] == pytest.approx(backward["recall"])
    assert forward["f1"] == pytest.approx(backward["f1"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TAGS), max_size=10))
def test_boundary_tables_decode_as_entity_spans(tags):
    starts, ends = chunk_boundary_tables(TAGS)
    ids = [TAGS.index(tag) for tag in tags]
    outside = len(TAGS)
    first = [index for index, (before, tag) in enumerate(zip([outside, *ids], ids)) if starts[before, tag]]
    last = [index for index, (tag, after) in enumerate(zip(ids, [*ids[1:], outside])) if ends[tag, after]]
    assert len(first) == len(last)
    assert [(start, end + 1) for start, end in zip(first, last)] == [(s, e) for _, s, e in entity_spans(tags)]


def test_capitalised_baseline_skips_the_first_word():
    tokens = [["Peter", "Blackburn", "met", "Angela", "Merkel", "in", "Berlin", "."], ["the", "EU"]]
    assert capitalised_baseline(tokens, "PER") == [
        ["O", "B-PER", "O", "B-PER", "I-PER", "O", "B-PER", "O"], ["O", "B-PER"]]
    assert most_frequent_type([["B-LOC", "O", "B-PER"], ["B-PER", "I-PER", "B-LOC"]]) == "LOC"  # tie → alphabetical
    with pytest.raises(ValueError, match="no entity"):
        most_frequent_type([["O"]])


def test_tables_mark_the_outside_sentinel_last():
    starts, ends = chunk_boundary_tables(["O", "B-PER", "I-PER"])
    assert starts.shape == ends.shape == (4, 4) and starts.dtype == np.bool_
    assert starts[3, 2] and not starts[1, 2] and ends[1, 3] and not ends[1, 2]

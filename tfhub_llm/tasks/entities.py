"""Named entities from tag sequences: chunking, the entity-level metric and a baseline.

Chunking follows seqeval's default mode (the conlleval script's rules) exactly: a tag is read as
its first character (``B``, ``I``, ``E``, ``S``, ``O``) and the type after the first ``-``; an
entity starts and ends by the rules of :func:`_starts_chunk` and :func:`_ends_chunk`, so invalid
sequences (``I-PER`` after ``O``, a type change inside an entity) and IOB1, IOB2 and IOBES data are
all read as seqeval reads them (the schemes themselves are :mod:`tfhub_llm.readers.tag_schemes`).
:func:`evaluate_entities` scores exact matches of (type, first word, last word), micro-averaged and
per type, as seqeval's ``classification_report`` does.
"""

from __future__ import annotations

import collections
from typing import Sequence

import numpy as np

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.readers.tag_schemes import OUTSIDE, tag_parts


def _ends_chunk(previous_prefix, prefix, previous_type, entity_type) -> bool:
    """seqeval's ``end_of_chunk``: an entity ended on the previous word."""
    return (previous_prefix in "ES"
            or (previous_prefix in "BI" and prefix in "BSO")
            or (previous_prefix not in "O." and previous_type != entity_type))


def _starts_chunk(previous_prefix, prefix, previous_type, entity_type) -> bool:
    """seqeval's ``start_of_chunk``: an entity starts on this word."""
    return (prefix in "BS"
            or (previous_prefix in "ESO" and prefix in "EI")
            or (prefix not in "O." and previous_type != entity_type))


def _chunks(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(type, first, last) of the entities of one flat tag sequence (seqeval's ``get_entities``)."""
    previous_prefix, previous_type, begin, chunks = OUTSIDE, "", 0, []
    for index, tag in enumerate([*tags, OUTSIDE]):
        prefix, entity_type = tag_parts(tag)
        if _ends_chunk(previous_prefix, prefix, previous_type, entity_type):
            chunks.append((previous_type, begin, index - 1))
        if _starts_chunk(previous_prefix, prefix, previous_type, entity_type):
            begin = index
        previous_prefix, previous_type = prefix, entity_type
    return chunks


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """The entities of one sentence's tags as (type, first word, end word exclusive)."""
    return [(entity_type, first, last + 1) for entity_type, first, last in _chunks(list(tags))]


def chunk_boundary_tables(label_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(starts, ends)``, bool ``[n + 1, n + 1]`` for ``n`` labels, index ``n`` standing for "outside the text".

    ``starts[p, t]``: a word tagged ``t`` after a word tagged ``p`` starts an entity; ``ends[t, q]``: a
    word tagged ``t`` followed by one tagged ``q`` ends one. The same rules as :func:`entity_spans`, as
    lookup tables for decoding in a TensorFlow graph.
    """
    parts = [tag_parts(name) for name in label_names] + [tag_parts(OUTSIDE)]

    def table(rule):
        return np.array([[rule(before[0], after[0], before[1], after[1]) for after in parts] for before in parts])

    return table(_starts_chunk), table(_ends_chunk)


def evaluate_entities(gold_tags: Sequence[Sequence[str]], predicted_tags: Sequence[Sequence[str]]) -> dict:
    """Entity-level precision, recall and F1 (x100), micro over all entities and per type, as seqeval's default mode.

    An entity counts as correct when its type, first and last word all match. Returns
    ``{"precision", "recall", "f1", "support", "predicted", "correct", "per_type": {type: {...}}}``
    (support: gold entities); a ratio with a zero denominator is 0, as seqeval reports it.
    """
    if len(gold_tags) != len(predicted_tags):
        raise InvalidArgumentError(f"{len(gold_tags)} gold sentences but {len(predicted_tags)} predicted ones")
    for index, (gold, predicted) in enumerate(zip(gold_tags, predicted_tags)):
        if len(gold) != len(predicted):
            raise InvalidArgumentError(f"sentence {index} has {len(gold)} gold tags but {len(predicted)} predicted ones")
    gold_entities = _entities_by_type(gold_tags)
    predicted_entities = _entities_by_type(predicted_tags)
    per_type = {}
    for entity_type in sorted(set(gold_entities) | set(predicted_entities)):
        gold, predicted = gold_entities[entity_type], predicted_entities[entity_type]
        per_type[entity_type] = _scores(len(gold & predicted), len(predicted), len(gold))
    totals = [sum(scores[key] for scores in per_type.values()) for key in ("correct", "predicted", "support")]
    return {**_scores(*totals), "per_type": per_type}


def _entities_by_type(tag_sequences) -> dict[str, set]:
    """{type: {(first, last), ...}} over the sentences joined with an ``O`` after each (as seqeval joins them)."""
    flat = [tag for tags in tag_sequences for tag in [*tags, OUTSIDE]]
    entities = collections.defaultdict(set)
    for entity_type, first, last in _chunks(flat):
        entities[entity_type].add((first, last))
    return entities


def _scores(correct: int, predicted: int, support: int) -> dict:
    precision = correct / predicted if predicted else 0.0
    recall = correct / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": 100 * precision, "recall": 100 * recall, "f1": 100 * f1,
            "support": support, "predicted": predicted, "correct": correct}


def capitalised_baseline(token_lists: Sequence[Sequence[str]], entity_type: str) -> list[list[str]]:
    """IOB2 tags marking every maximal run of capitalised words as one ``entity_type`` entity.

    A word is capitalised when its first character is an upper-case letter; the first word of a
    sentence is never tagged (it is capitalised anyway), so a run may start at the second word.
    """
    tag_lists = []
    for tokens in token_lists:
        tags, inside = [], False
        for index, token in enumerate(tokens):
            capitalised = index > 0 and token[:1].isupper()
            tags.append((f"I-{entity_type}" if inside else f"B-{entity_type}") if capitalised else OUTSIDE)
            inside = capitalised
        tag_lists.append(tags)
    return tag_lists


def most_frequent_type(tag_sequences: Sequence[Sequence[str]]) -> str:
    """The entity type with the most entities in ``tag_sequences`` (ties: alphabetical order)."""
    counts = collections.Counter(entity_type for tags in tag_sequences for entity_type, _, _ in entity_spans(tags))
    if not counts:
        raise InvalidArgumentError("the tag sequences hold no entity")
    return min(counts, key=lambda entity_type: (-counts[entity_type], entity_type))

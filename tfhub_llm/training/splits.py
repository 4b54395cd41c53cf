"""Train / validation splits of what the readers read: seeded, reproducible, each side in file order.

:func:`seeded_holdout` is the one rule every split follows (a seeded permutation, its first
``round(count * validation_fraction)`` held out); :func:`split_examples` applies it to the rows or
whole sentences of :class:`~tfhub_llm.readers.text_examples.TextExamples`, :func:`split_by_document`
to the documents of :class:`~tfhub_llm.readers.conll.TaggedSentences`.
"""

from __future__ import annotations

import numpy as np

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.readers.conll import TaggedSentences
from tfhub_llm.readers.text_examples import TextExamples

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


def split_by_document(sentences: TaggedSentences, validation_fraction: float,
                      seed: int) -> tuple[TaggedSentences, TaggedSentences]:
    """(train, validation): a seeded ``validation_fraction`` of the documents held out whole; each keeps file order."""
    document_ids = sorted(set(sentences.documents))
    held_out = seeded_holdout(len(document_ids), validation_fraction, seed,
                              f"the {len(document_ids)} documents of {sentences.path}")
    validation = {document_ids[i] for i in held_out}
    in_validation = [document in validation for document in sentences.documents]
    return (sentences.subset([i for i, held in enumerate(in_validation) if not held]),
            sentences.subset([i for i, held in enumerate(in_validation) if held]))

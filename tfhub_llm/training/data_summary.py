"""The one-screen summary of a run's data, printed before training starts, for every task's run.

What the run will learn from, so a wrong column, a skewed label set or texts far longer than the
packed length show before the training time is spent. Every summary has three lines: the training
and validation counts with the split and the file; the labels with their counts (classes, scores,
answerable / unanswerable questions, tags, positive pairs); and the lengths in word pieces against
the length the model packs to (cut there, or split into windows for question answering and tagging).
"""

from collections import Counter

import numpy as np

MAX_LABELS_SHOWN = 12


def summarize_text_examples(train, validation, preprocessor, split: str) -> str:
    """The summary of a classification run's ``train`` / ``validation`` (:class:`~tfhub_llm.readers.text_examples.TextExamples`).

    ``split`` says how they were cut; ``preprocessor`` (a :class:`~tfhub_llm.layers.hub_layers.HubPreprocessor`)
    counts the word pieces.
    """
    lengths = _word_pieces(preprocessor, train.texts) + 2
    if train.texts_b is not None:
        lengths = lengths + _word_pieces(preprocessor, train.texts_b) + 1
    return "\n".join([
        _data_line(train, validation, "examples", split, train.path),
        "labels: " + _labels(train),
        _lengths_line(lengths, "example (with [CLS]/[SEP])", preprocessor.max_seq_length),
    ])


def summarize_text_pairs(train, validation, preprocessor, split: str, *, scored: bool) -> str:
    """The summary of an embedder run's pairs (:class:`~tfhub_llm.readers.text_examples.TextExamples` with ``texts_b``).

    ``scored``: the labels are similarity scores; else every pair is a positive pair. Each text is
    embedded on its own, so the lengths are those of single texts.
    """
    if scored:
        labels = f"scores {_spread(train.labels)}"
    else:
        labels = (f"every pair positive, {len(set(train.texts_b)):,} distinct second texts "
                  "(the batch's other second texts are the negatives)")
    lengths = _word_pieces(preprocessor, [*train.texts, *train.texts_b]) + 2
    return "\n".join([
        _data_line(train, validation, "pairs", split, train.path),
        "pairs: " + labels,
        _lengths_line(lengths, "text (with [CLS]/[SEP])", preprocessor.max_seq_length),
    ])


def summarize_questions(train, validation, preprocessor, split: str, *, source, max_seq_length: int) -> str:
    """The summary of a question answering run's ``train`` / ``validation`` (lists of SQuAD examples from ``source``).

    Contexts longer than a window of ``max_seq_length`` are split into overlapping windows, not cut.
    """
    unanswerable = sum(example.is_impossible for example in train)
    counts = {"answerable": len(train) - unanswerable, "unanswerable": unanswerable}
    questions = _word_pieces(preprocessor, [example.question for example in train])
    contexts = _word_pieces(preprocessor, [example.context for example in train])
    return "\n".join([
        _data_line(train, validation, "questions", split, source),
        "questions: " + _counts(counts.keys(), counts.values(), len(train)),
        _lengths_line(questions + contexts + 3, "question with its context (with [CLS]/[SEP]s)", max_seq_length,
                      windows=True),
    ])


def summarize_tagged_sentences(train, validation, preprocessor, split: str, *, max_seq_length: int) -> str:
    """The summary of a tagging run's ``train`` / ``validation`` (:class:`~tfhub_llm.readers.conll.TaggedSentences`).

    Sentences longer than a window of ``max_seq_length`` are split into overlapping windows, not cut.
    """
    tags = Counter(tag for sentence in train.tags for tag in sentence)
    names = train.label_names()
    words = [word for sentence in train.tokens for word in sentence]
    sentence_of_word = np.repeat(np.arange(len(train)), [len(sentence) for sentence in train.tokens])
    lengths = np.bincount(sentence_of_word, weights=_word_pieces(preprocessor, words), minlength=len(train)) + 2
    return "\n".join([
        _data_line(train, validation, "sentences", split, train.path),
        f"tags of the {len(words):,} words: " + _counts(names, [tags[name] for name in names], len(words)),
        _lengths_line(lengths.astype(np.int64), "sentence (with [CLS]/[SEP])", max_seq_length, windows=True),
    ])


def _data_line(train, validation, unit, split, source):
    return f"data: {len(train):,} training and {len(validation):,} validation {unit} ({split}), from {source}"


def _labels(examples):
    """Each class with its count, or the spread of regression targets."""
    labels = examples.labels
    if labels.ndim == 1 and labels.dtype.kind == "f":
        return f"regression targets {_spread(labels)}"
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=len(examples.label_names or ()))
    names = examples.label_names or [str(index) for index in range(len(counts))]
    return _counts(names, counts, len(examples))


def _spread(values):
    return (f"from {values.min():g} to {values.max():g}, median {np.median(values):g}, "
            f"mean {values.mean():g}")


def _counts(names, counts, total):
    """``name count (share)`` for each name, the first :data:`MAX_LABELS_SHOWN` of them."""
    shown = [f"{name} {int(count):,} ({count / max(total, 1):.0%})" for name, count in zip(names, counts)]
    more = len(shown) - MAX_LABELS_SHOWN
    return ", ".join(shown[:MAX_LABELS_SHOWN]) + (f", and {more} more" if more > 0 else "")


def _lengths_line(lengths, per, packed_length, windows=False):
    """The spread of ``lengths`` against ``packed_length``: how many are cut, or need more than one window."""
    longer = float(np.mean(lengths > packed_length))
    if windows:
        against = f"windows of {packed_length}" + (f", so {longer:.1%} span more than one window" if longer else "")
    else:
        against = f"packed to at most {packed_length}" + (f", so {longer:.1%} are cut" if longer else "")
    return (f"word pieces per {per}: median {np.median(lengths):.0f}, 95th percentile "
            f"{np.percentile(lengths, 95):.0f}, longest {lengths.max()}; {against}")


def _word_pieces(preprocessor, texts):
    """The number of word pieces of each text."""
    return preprocessor.token_ids(list(texts)).row_lengths().numpy()

"""The one-screen summary of a classification run's data, printed before training starts.

What the run will learn from, so a wrong column, a skewed label set or texts far longer than the
packed length show before the training time is spent: the examples and the split, each label with
its count, and the texts' lengths in word pieces against the length they are packed (and cut) to.
"""

import numpy as np

MAX_LABELS_SHOWN = 12


def summarize_text_examples(train, validation, preprocessor, split: str) -> str:
    """The summary of ``train`` / ``validation`` (:class:`~tfhub_llm.readers.text_examples.TextExamples`), cut as ``split`` says.

    ``preprocessor`` (a :class:`~tfhub_llm.layers.HubPreprocessor`) counts the word pieces.
    """
    lines = [f"data: {len(train):,} training and {len(validation):,} validation examples ({split}), from {train.path}"]
    lines.append("labels: " + _label_counts(train))
    lengths = _word_pieces(train, preprocessor)
    cut = preprocessor.max_seq_length
    longer = float(np.mean(lengths > cut))
    lines.append(f"word pieces per example (with [CLS]/[SEP]): median {np.median(lengths):.0f}, "
                 f"95th percentile {np.percentile(lengths, 95):.0f}, longest {lengths.max()}; packed to at most {cut}"
                 + (f", so {longer:.1%} are cut" if longer else ""))
    return "\n".join(lines)


def _label_counts(examples):
    labels = examples.labels
    if labels.ndim == 1 and labels.dtype.kind == "f":  # regression
        return (f"regression targets from {labels.min():g} to {labels.max():g}, "
                f"median {np.median(labels):g}, mean {labels.mean():g}")
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=len(examples.label_names or ()))
    names = examples.label_names or [str(index) for index in range(len(counts))]
    shown = [f"{name} {int(count):,} ({count / len(examples):.0%})" for name, count in zip(names, counts)]
    more = len(shown) - MAX_LABELS_SHOWN
    return ", ".join(shown[:MAX_LABELS_SHOWN]) + (f", and {more} more classes" if more > 0 else "")


def _word_pieces(examples, preprocessor):
    """Packed length of each example before any cut: its word pieces, [CLS] and one [SEP] per text."""
    lengths = preprocessor.token_ids(examples.texts).row_lengths().numpy() + 2
    if examples.texts_b is not None:
        lengths = lengths + preprocessor.token_ids(examples.texts_b).row_lengths().numpy() + 1
    return lengths

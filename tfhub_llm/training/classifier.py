"""Text classification runs from CSV / TSV / JSONL files: ``tfhub-llm finetune classify`` and ``evaluate classify``.

The run is :mod:`tfhub_llm.training.run`'s; this module reads and splits the labelled texts, builds
the :class:`~tfhub_llm.tasks.classifier.TextClassifier` the labels ask for and prints the data's
summary (:mod:`tfhub_llm.training.data_summary`) before training.
"""

import functools
import os
from collections.abc import Sequence

import keras

from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.labels import label_type_for
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.training.data_summary import summarize_text_examples
from tfhub_llm.training.options import CLASSIFIER_TRAINING, TrainingOptions
from tfhub_llm.training.run import FinetuneResult, load_model_or_path, sample_split, start_run, train_on_examples
from tfhub_llm.training.splits import split_examples


def finetune_classifier(
    encoder: str | HubEncoder,
    preprocessor: str | HubPreprocessor,
    train_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    text_column: str,
    label_column: str,
    text_b_column: str | None = None,
    num_classes: int | None = None,
    label_names: Sequence[str] | None = None,
    multi_label: bool = False,
    validation_file: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    split_by: str = "rows",
    seq_length: int | None = None,
    options: TrainingOptions = CLASSIFIER_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`TextClassifier` on a CSV / TSV / JSONL file and saves it under ``out_dir``.

    ``label_names`` fixes the classes (in id order) instead of the sorted labels found; with it or
    ``num_classes``, labels that look like a typo (see :func:`tfhub_llm.readers.text_examples.read_text_examples`) are taken.
    Without ``validation_file``, ``validation_fraction`` of ``train_file`` is held out as
    :func:`tfhub_llm.training.splits.split_examples` does with ``by=split_by`` (``"sentences"`` for SST-2).
    ``options`` (:class:`~tfhub_llm.training.options.TrainingOptions`) says how the run trains.
    """
    read = functools.partial(read_text_examples, text_column=text_column, label_column=label_column,
                             text_b_column=text_b_column, label_type=label_type_for(num_classes, multi_label),
                             num_classes=num_classes)
    examples = read(train_file, label_vocabulary=label_names)
    if validation_file:
        train, validation = examples, read(validation_file, label_vocabulary=examples.label_names)
    else:
        train, validation = split_examples(examples, validation_fraction, options.seed, by=split_by)
    train, validation = sample_split(train, validation, options)
    start_run(out_dir, options)
    model = TextClassifier(
        encoder,
        preprocessor,
        num_classes or _num_classes(examples),
        multi_label=multi_label,
        text_pair=text_b_column is not None,
        label_names=examples.label_names,
        seq_length=seq_length,
    )
    if options.verbose:
        split = (f"validation from {validation_file}" if validation_file
                 else f"{validation_fraction:.0%} of the {split_by} held out")
        print(summarize_text_examples(train, validation, model.preprocessor, split), flush=True)
    return train_on_examples(model, train, validation, out_dir, options)


def _num_classes(examples):
    """The classes a file's labels ask for: its label names, or the largest integer label + 1."""
    return len(examples.label_names) if examples.label_names else int(examples.labels.max()) + 1


def evaluate_classifier(model: keras.Model | str | os.PathLike, data_file: str | os.PathLike, *, text_column: str,
                        label_column: str, text_b_column: str | None = None, batch_size: int = 32) -> dict[str, float]:
    """Keras metrics of a classifier (a model or a ``.keras`` path) on a labelled file."""
    model = load_model_or_path(model, TextClassifier)
    examples = read_text_examples(
        data_file,
        text_column=text_column,
        label_column=label_column,
        text_b_column=text_b_column,
        label_type=model.label_type,
        label_vocabulary=model.label_names,
        num_classes=model.num_classes,
    )
    metrics = model.evaluate(to_dataset(examples, batch_size, shuffle=False), verbose=0, return_dict=True)
    return {key: float(value) for key, value in metrics.items()}

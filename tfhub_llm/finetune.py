"""Fine-tuning runs from data files to a saved model: what ``tfhub-llm finetune`` and the demo call.

A run reads and checks all its data before training, trains with ``fit`` and standard Keras
callbacks (``BackupAndRestore``, written atomically and verified (:mod:`tfhub_llm.run_backup`), so an
interrupted run resumes, ``ModelCheckpoint`` of the best
epoch, optional ``EarlyStopping``), evaluates on held-out data and writes into ``out_dir``:
``model.keras``, ``history.json`` and ``metrics.json``. A finished run (one with ``model.keras``) is
never replaced unless asked (``overwrite``), and then only by a run that finished: the new run
trains in a hidden sibling folder that is renamed onto ``out_dir`` at the end.
"""

import dataclasses
import functools
import json
import os
import time

import keras
import numpy as np

from tfhub_llm.atomic import atomic_directory, atomic_file, is_missing_or_empty_dir, write_text
from tfhub_llm.data_summary import summarize_text_examples
from tfhub_llm.errors import InvalidArgumentError, TfhubLlmError
from tfhub_llm.model_files import load_model_file
from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.labels import label_type_for
from tfhub_llm.readers.squad import load_squad_json, read_squad
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.run_backup import VerifiedBackupAndRestore
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tasks.squad import first_sentence_baseline, squad_evaluate
from tfhub_llm.training.splits import split_examples
from tfhub_llm.training_options import CLASSIFIER_TRAINING, QUESTION_ANSWERING_TRAINING, TrainingOptions

MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"


class RunDirectoryError(TfhubLlmError, ValueError):
    """An output directory holding a run (finished or interrupted) that the caller did not ask to replace or resume."""


@dataclasses.dataclass
class FinetuneResult:
    """What a fine-tuning run produced."""

    model: keras.Model
    history: dict
    metrics: dict
    out_dir: str
    train_seconds: float
    validation_examples: object = None  # what the metrics were computed on

    @property
    def model_path(self):
        return os.path.join(self.out_dir, MODEL_FILE)


def finetune_classifier(
    encoder,
    preprocessor,
    train_file,
    out_dir,
    *,
    text_column,
    label_column,
    text_b_column=None,
    num_classes=None,
    label_names=None,
    multi_label=False,
    validation_file=None,
    validation_fraction=0.1,
    split_by="rows",
    seq_length=None,
    training: TrainingOptions = CLASSIFIER_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`TextClassifier` on a CSV / TSV / JSONL file and saves it under ``out_dir``.

    ``label_names`` fixes the classes (in id order) instead of the sorted labels found; with it or
    ``num_classes``, labels that look like a typo (see :func:`tfhub_llm.readers.text_examples.read_text_examples`) are taken.
    Without ``validation_file``, ``validation_fraction`` of ``train_file`` is held out as
    :func:`tfhub_llm.training.splits.split_examples` does with ``by=split_by`` (``"sentences"`` for SST-2).
    ``training`` (:class:`~tfhub_llm.training_options.TrainingOptions`) says how the run trains.
    """
    read = functools.partial(read_text_examples, text_column=text_column, label_column=label_column,
                             text_b_column=text_b_column, label_type=label_type_for(num_classes, multi_label),
                             num_classes=num_classes)
    examples = read(train_file, label_vocabulary=label_names)
    if validation_file:
        train, validation = examples, read(validation_file, label_vocabulary=examples.label_names)
    else:
        train, validation = split_examples(examples, validation_fraction, training.seed, by=split_by)
    train, validation = sample_split(train, validation, training)
    start_run(out_dir, training)
    model = TextClassifier(
        encoder,
        preprocessor,
        num_classes or _num_classes(examples),
        multi_label=multi_label,
        text_pair=text_b_column is not None,
        label_names=examples.label_names,
        seq_length=seq_length,
    )
    if training.verbose:
        split = (f"validation from {validation_file}" if validation_file
                 else f"{validation_fraction:.0%} of the {split_by} held out")
        print(summarize_text_examples(train, validation, model.preprocessor, split), flush=True)
    return train_on_examples(model, train, validation, out_dir, training)


def _num_classes(examples):
    """The classes a file's labels ask for: its label names, or the largest integer label + 1."""
    return len(examples.label_names) if examples.label_names else int(examples.labels.max()) + 1


def finetune_question_answering(
    encoder,
    preprocessor,
    train_file,
    out_dir,
    *,
    validation_file=None,
    validation_articles=1,
    max_seq_length=None,
    doc_stride=128,
    max_query_length=None,
    training: TrainingOptions = QUESTION_ANSWERING_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`SpanQuestionAnswerer` on SQuAD JSON; validates on held-out articles.

    Without ``validation_file`` the last ``validation_articles`` articles of ``train_file`` are held
    out, so no validation question shares a context with a training question. ``metrics.json`` adds
    SQuAD EM / F1 and those of the first-sentence baseline.
    """
    train_set, validation_set = _squad_split(train_file, validation_file, validation_articles)
    train, validation = sample_split(read_squad(train_set, path=train_file),
                                     read_squad(validation_set, path=validation_file or train_file), training)
    start_run(out_dir, training)
    model = SpanQuestionAnswerer(
        encoder,
        preprocessor,
        max_seq_length=max_seq_length,
        doc_stride=doc_stride,
        max_query_length=max_query_length,
        version_2_with_negative=any(example.is_impossible for example in train),
    )
    return train_on_features(model, train, validation, out_dir, training,
                             evaluate=lambda model: evaluate_question_answering(model, validation_set, validation))


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


def evaluate_question_answering(model: keras.Model | str | os.PathLike, squad: dict | str | os.PathLike,
                                examples: list | None = None) -> dict[str, float]:
    """SQuAD EM / F1 of a QA model (a model or a ``.keras`` path) and of the first-sentence baseline."""
    model = load_model_or_path(model, SpanQuestionAnswerer)
    dataset = squad if isinstance(squad, dict) else load_squad_json(squad)
    examples = examples if examples is not None else read_squad(dataset, path=None if dataset is squad else squad)
    answers = model.predict_examples(examples)
    predictions = {example.qas_id: answer["answer"] for example, answer in zip(examples, answers)}
    scores = squad_evaluate(_restricted(dataset, predictions), predictions)
    baseline = squad_evaluate(_restricted(dataset, predictions), first_sentence_baseline(examples))
    return {**scores, "baseline_exact_match": baseline["exact_match"], "baseline_f1": baseline["f1"]}


def start_run(out_dir, training):
    """What every run does between checking its data and building its model: refuse to clobber a run, seed Keras."""
    _refuse_to_clobber_a_run(out_dir, training)
    keras.utils.set_random_seed(training.seed)


def sample_split(train, validation, training):
    """``train`` and ``validation`` cut to the seeded samples that ``training.max_*_examples`` ask for."""
    return (_sample_examples(train, training.max_train_examples, training.seed),
            _sample_examples(validation, training.max_validation_examples, training.seed))


def train_on_examples(model, train, validation, out_dir, training, *, loss="auto", **save_options):
    """Compiles ``model`` for the run and fits it on text examples batched by :func:`~tfhub_llm.readers.datasets.to_dataset`."""
    model.compile(loss=loss, learning_rate=training.learning_rate, train_steps=training.train_steps(len(train)))
    train_data = to_dataset(train, training.batch_size, shuffle=True, seed=training.seed)
    validation_data = to_dataset(validation, training.batch_size, shuffle=False)
    return fit_and_save(model, train_data, validation_data, out_dir, training, validation_examples=validation,
                        **save_options)


def train_on_features(model, train, validation, out_dir, training, **save_options):
    """Compiles ``model`` for the run and fits it on the features (windows) its ``make_features`` cuts examples into."""
    features = model.make_features(train)
    model.compile(learning_rate=training.learning_rate, train_steps=training.train_steps(len(features)))
    train_data = model.features_dataset(features, training.batch_size, shuffle=True, seed=training.seed)
    validation_data = model.features_dataset(model.make_features(validation), training.batch_size, shuffle=False)
    return fit_and_save(model, train_data, validation_data, out_dir, training, validation_examples=validation,
                        **save_options)


def fit_and_save(model, train_data, validation_data, out_dir, training, *, validation_examples=None, saved_model=None,
                 evaluate=None):
    """The fit of every run: backup, best checkpoint, early stop; then model.keras and the JSON files.

    ``best.keras`` and ``model.keras`` hold ``saved_model`` (default ``model``), e.g. the embedder that a
    pair-training model wraps. ``evaluate(saved_model)``, when given, adds the task's own metrics
    (e.g. SQuAD F1) to the Keras validation metrics of ``metrics.json``.
    """
    fit = functools.partial(_fit_and_save, model, train_data, validation_data, training=training,
                            validation_examples=validation_examples, saved_model=saved_model, evaluate=evaluate)
    if training.overwrite and not is_missing_or_empty_dir(out_dir):
        with atomic_directory(out_dir, overwrite=True) as staging:
            result = fit(os.fspath(staging))
        return dataclasses.replace(result, out_dir=out_dir)
    return fit(out_dir)


def _fit_and_save(model, train_data, validation_data, out_dir, *, training, validation_examples, saved_model, evaluate):
    os.makedirs(out_dir, exist_ok=True)  # only now: a handle that fails to load leaves no empty run behind
    saved_model = model if saved_model is None else saved_model
    started = time.perf_counter()
    backup = VerifiedBackupAndRestore(os.path.join(out_dir, BACKUP_DIR))
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=training.epochs,
        shuffle=False,  # the datasets shuffle themselves
        verbose=training.verbose,
        callbacks=[backup, *_run_callbacks(saved_model, out_dir, training.patience), *training.callbacks],
    )
    history = backup.history  # every epoch's, those before a resume too
    train_seconds = time.perf_counter() - started
    metrics = model.evaluate(validation_data, verbose=0, return_dict=True)
    metrics = {f"validation_{key}": float(value) for key, value in metrics.items()}
    _save_atomically(saved_model, os.path.join(out_dir, MODEL_FILE))
    if evaluate is not None:
        metrics.update(evaluate(saved_model))
    _write_json(os.path.join(out_dir, "history.json"), history)
    _write_json(os.path.join(out_dir, "metrics.json"), metrics)
    return FinetuneResult(saved_model, history, metrics, out_dir, train_seconds, validation_examples)


def _run_callbacks(saved_model, out_dir, patience):
    """The best epoch in ``out_dir/best.keras``, and early stopping."""
    callbacks = [
        _BestCheckpoint(saved_model, os.path.join(out_dir, "best.keras"), monitor="val_loss", save_best_only=True),
    ]
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True))
    return callbacks


class _BestCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` of ``saved_model`` (maybe a part of the model that ``fit`` trains), saved atomically."""

    def __init__(self, saved_model, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._saved_model = saved_model

    def set_model(self, model):
        super().set_model(self._saved_model)

    def _should_save_model(self, epoch, batch, logs, filepath):
        """Keras' choice (which also tracks the best value), but the save is ours: a full disk leaves the old file."""
        if super()._should_save_model(epoch, batch, logs, filepath):
            _save_atomically(self._saved_model, filepath)
        return False


def _refuse_to_clobber_a_run(out_dir, training):
    """Raises RunDirectoryError before any task's run when ``out_dir`` holds a run that ``training`` may not touch.

    A finished run (``model.keras``) is replaced only with ``overwrite``; an interrupted one (``backup``)
    is continued with ``resume`` or replaced with ``overwrite``.
    """
    if training.resume and training.overwrite:
        raise InvalidArgumentError("resume and overwrite exclude each other: continue the run in --out, or replace it")
    if training.overwrite:
        return
    model_file, backup = os.path.join(out_dir, MODEL_FILE), os.path.join(out_dir, BACKUP_DIR)
    if os.path.exists(model_file):
        raise RunDirectoryError(
            f"{out_dir} holds a finished run ({model_file}): pass overwrite=True (--overwrite) to replace it "
            "once the new run has finished, or choose another output directory."
        )
    if os.path.isdir(backup) and not training.resume:
        raise RunDirectoryError(
            f"{out_dir} holds an interrupted run ({backup}): pass resume=True (--resume) to continue it, "
            "overwrite=True (--overwrite) to start afresh, or choose another output directory."
        )


def _sample_examples(examples, limit, seed):
    """A seeded sample of ``limit`` examples in file order: a list, TextExamples or TaggedSentences (``subset``)."""
    if not limit or len(examples) <= limit:
        return examples
    chosen = np.sort(np.random.default_rng(seed).choice(len(examples), limit, replace=False))
    if hasattr(examples, "subset"):
        return examples.subset(chosen)
    return [examples[index] for index in chosen]


def _squad_split(train_file, validation_file, validation_articles):
    dataset = load_squad_json(train_file)
    read_squad(dataset, path=train_file)  # errors name places in the whole file, not in one side of the split
    if validation_file:
        return dataset, load_squad_json(validation_file)
    articles = dataset["data"]
    if not 0 < validation_articles < len(articles):
        raise InvalidArgumentError(
            f"{train_file} has {len(articles)} articles; cannot hold out {validation_articles} for validation."
        )
    return (
        {**dataset, "data": articles[:-validation_articles]},
        {**dataset, "data": articles[-validation_articles:]},
    )


def _restricted(dataset, predictions):
    """The SQuAD dataset cut down to the questions that were predicted (sampled runs)."""
    articles = []
    for article in dataset["data"]:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            questions = [qa for qa in paragraph["qas"] if qa["id"] in predictions]
            if questions:
                paragraphs.append({**paragraph, "qas": questions})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return {**dataset, "data": articles}


def load_model_or_path(model, expected_class):
    """The model itself, or the ``expected_class`` model a ``.keras`` path holds: what every ``evaluate_*`` takes."""
    return load_model_file(model, expected_class) if isinstance(model, (str, os.PathLike)) else model


def _save_atomically(model, path):
    with atomic_file(path, suffix=".keras") as temporary:
        model.save(temporary)


def _write_json(path, value):
    """Writes a run's JSON file (metrics.json, history.json) atomically, indented."""
    write_text(path, json.dumps(value, indent=2) + "\n")


"""The run machinery every task's run shares: from checked data to a saved model and its figures.

A task's run (:mod:`~tfhub_llm.training.classifier`, ...) reads and checks all its data, then calls
:func:`start_run` (which refuses to clobber a run) and :func:`train_on_examples` or
:func:`train_on_features`, which end in :func:`fit_and_save`: ``fit`` with standard Keras callbacks
(``BackupAndRestore``, written atomically and verified (:mod:`tfhub_llm.training.backup`), so an
interrupted run resumes, ``ModelCheckpoint`` of the best epoch, optional ``EarlyStopping``), then
evaluation on held-out data, and ``model.keras``, ``history.json`` and ``metrics.json`` in ``out_dir``,
returned as a :class:`FinetuneResult`. A finished run (one with ``model.keras``) is never replaced
unless asked (``overwrite``), and then only by a run that finished: the new run trains in a hidden
sibling folder that is renamed onto ``out_dir`` at the end.
"""

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable

import keras
import numpy as np

from tfhub_llm.atomic import atomic_directory, atomic_file, is_missing_or_empty_dir, write_text
from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.errors import InvalidArgumentError, TfhubLlmError
from tfhub_llm.model_files import load_model_file
from tfhub_llm.training.backup import VerifiedBackupAndRestore
from tfhub_llm.training.options import TrainingOptions

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
    def model_path(self) -> str:
        return os.path.join(self.out_dir, MODEL_FILE)


def start_run(out_dir: str | os.PathLike, options: TrainingOptions) -> None:
    """What every run does between checking its data and building its model: refuse to clobber a run, seed Keras."""
    _refuse_to_clobber_a_run(out_dir, options)
    keras.utils.set_random_seed(options.seed)


def sample_split(train, validation, options: TrainingOptions) -> tuple:
    """``train`` and ``validation`` cut to the seeded samples that ``options.max_*_examples`` ask for."""
    return (_sample_examples(train, options.max_train_examples, options.seed),
            _sample_examples(validation, options.max_validation_examples, options.seed))


def train_on_examples(model: keras.Model, train, validation, out_dir: str | os.PathLike, options: TrainingOptions, *,
                      loss="auto", **save_options) -> FinetuneResult:
    """Compiles ``model`` for the run and fits it on text examples batched by :func:`~tfhub_llm.readers.datasets.to_dataset`."""
    model.compile(loss=loss, learning_rate=options.learning_rate, train_steps=options.train_steps(len(train)))
    train_data = to_dataset(train, options.batch_size, shuffle=True, seed=options.seed)
    validation_data = to_dataset(validation, options.batch_size, shuffle=False)
    return fit_and_save(model, train_data, validation_data, out_dir, options, validation_examples=validation,
                        **save_options)


def train_on_features(model: keras.Model, train, validation, out_dir: str | os.PathLike, options: TrainingOptions,
                      **save_options) -> FinetuneResult:
    """Compiles ``model`` for the run and fits it on the features (windows) its ``make_features`` cuts examples into."""
    features = model.make_features(train)
    model.compile(learning_rate=options.learning_rate, train_steps=options.train_steps(len(features)))
    train_data = model.features_dataset(features, options.batch_size, shuffle=True, seed=options.seed)
    validation_data = model.features_dataset(model.make_features(validation), options.batch_size, shuffle=False)
    return fit_and_save(model, train_data, validation_data, out_dir, options, validation_examples=validation,
                        **save_options)


def fit_and_save(model: keras.Model, train_data, validation_data, out_dir: str | os.PathLike, options: TrainingOptions,
                 *, validation_examples=None, saved_model: keras.Model | None = None,
                 evaluate: Callable[[keras.Model], dict] | None = None) -> FinetuneResult:
    """The fit of every run: backup, best checkpoint, early stop; then model.keras and the JSON files.

    ``best.keras`` and ``model.keras`` hold ``saved_model`` (default ``model``), e.g. the embedder that a
    pair-training model wraps. ``evaluate(saved_model)``, when given, adds the task's own metrics
    (e.g. SQuAD F1) to the Keras validation metrics of ``metrics.json``.
    """
    fit = functools.partial(_fit_and_save, model, train_data, validation_data, options=options,
                            validation_examples=validation_examples, saved_model=saved_model, evaluate=evaluate)
    if options.overwrite and not is_missing_or_empty_dir(out_dir):
        with atomic_directory(out_dir, overwrite=True) as staging:
            result = fit(os.fspath(staging))
        return dataclasses.replace(result, out_dir=out_dir)
    return fit(out_dir)


def _fit_and_save(model, train_data, validation_data, out_dir, *, options, validation_examples, saved_model, evaluate):
    os.makedirs(out_dir, exist_ok=True)  # only now: a handle that fails to load leaves no empty run behind
    saved_model = model if saved_model is None else saved_model
    started = time.perf_counter()
    backup = VerifiedBackupAndRestore(os.path.join(out_dir, BACKUP_DIR))
    model.fit(
        train_data,
        validation_data=validation_data,
        epochs=options.epochs,
        shuffle=False,  # the datasets shuffle themselves
        verbose=options.verbose,
        callbacks=[backup, *_run_callbacks(saved_model, out_dir, options.patience), *options.callbacks],
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


def _refuse_to_clobber_a_run(out_dir, options):
    """Raises RunDirectoryError before any task's run when ``out_dir`` holds a run that ``options`` may not touch.

    A finished run (``model.keras``) is replaced only with ``overwrite``; an interrupted one (``backup``)
    is continued with ``resume`` or replaced with ``overwrite``.
    """
    if options.resume and options.overwrite:
        raise InvalidArgumentError("resume and overwrite exclude each other: continue the run in --out, or replace it")
    if options.overwrite:
        return
    model_file, backup = os.path.join(out_dir, MODEL_FILE), os.path.join(out_dir, BACKUP_DIR)
    if os.path.exists(model_file):
        raise RunDirectoryError(
            f"{out_dir} holds a finished run ({model_file}): pass overwrite=True (--overwrite) to replace it "
            "once the new run has finished, or choose another output directory."
        )
    if os.path.isdir(backup) and not options.resume:
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


def load_model_or_path(model: keras.Model | str | os.PathLike, expected_class: type) -> keras.Model:
    """The model itself, or the ``expected_class`` model a ``.keras`` path holds: what every ``evaluate_*`` takes."""
    return load_model_file(model, expected_class) if isinstance(model, (str, os.PathLike)) else model


def _save_atomically(model, path):
    with atomic_file(path, suffix=".keras") as temporary:
        model.save(temporary)


def _write_json(path, value):
    """Writes a run's JSON file (metrics.json, history.json) atomically, indented."""
    write_text(path, json.dumps(value, indent=2) + "\n")


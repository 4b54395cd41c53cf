"""Fine-tuning runs: outputs, data errors before training, interrupted runs and BackupAndRestore."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import DATA, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.errors import DataError
from tfhub_llm.finetune import (
    RunDirectoryError,
    evaluate_classifier,
    finetune_classifier,
    finetune_question_answering,
)
from tfhub_llm.layers import HubEncoder
from tfhub_llm.run_backup import CorruptBackupError
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.training_options import TrainingOptions

SST2 = DATA / "sst2" / "train.tsv"
TINY_RUN = TrainingOptions(max_train_examples=48, max_validation_examples=16, epochs=2, batch_size=16, verbose=0)


class InterruptAtEpoch(keras.callbacks.Callback):
    """Simulates a crash at the start of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


def classify(out_dir, **training):
    """The tiny classifier run, its TrainingOptions changed as ``training`` says."""
    return finetune_classifier(
        TINY_ENCODER, TINY_PREPROCESSOR, SST2, str(out_dir), text_column="text", label_column="label",
        training=dataclasses.replace(TINY_RUN, **training),
    )


def test_classifier_run_writes_model_history_and_metrics(tmp_path):
    result = classify(tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == ["best.keras", "history.json", "metrics.json", "model.keras"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics) == {"validation_loss", "validation_accuracy", "validation_f1", "validation_auc"}
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    assert len(result.validation_examples) == 16
    evaluated = evaluate_classifier(result.model_path, SST2, text_column="text", label_column="label")
    assert 0.0 <= evaluated["accuracy"] <= 1.0


def test_data_errors_stop_the_run_before_training(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\ngood film\t1\nbad film\t7\n")
    with pytest.raises(DataError, match=r"bad\.tsv: line 3: field 'label'"):
        finetune_classifier(TINY_ENCODER, TINY_PREPROCESSOR, bad, str(tmp_path / "run"), text_column="text",
                            label_column="label", num_classes=2, training=TINY_RUN)
    assert not (tmp_path / "run").exists()


def test_interrupted_run_needs_resume_and_then_completes(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        classify(tmp_path / "run", callbacks=(InterruptAtEpoch(1),))
    assert (tmp_path / "run" / "backup").is_dir() and not (tmp_path / "run" / "model.keras").exists()
    with pytest.raises(RunDirectoryError, match="interrupted run.*--resume"):
        classify(tmp_path / "run")
    weights = tmp_path / "run" / "backup" / "epoch-1.weights.h5"
    complete = weights.read_bytes()
    weights.write_bytes(complete[: len(complete) // 2])  # what a crash in the middle of a write would leave
    with pytest.raises(CorruptBackupError, match="cannot resume.*epoch-1.weights.h5"):
        classify(tmp_path / "run", resume=True)
    weights.write_bytes(complete)
    result = classify(tmp_path / "run", resume=True)
    assert len(result.history["loss"]) == 2  # the epoch before the interruption, then the missing one
    assert json.loads((tmp_path / "run" / "history.json").read_text()) == result.history
    assert (tmp_path / "run" / "model.keras").exists() and not (tmp_path / "run" / "backup").exists()


def test_an_overwriting_run_that_fails_keeps_the_finished_run(tmp_path):
    classify(tmp_path / "run", epochs=1)
    finished = {name: (tmp_path / "run" / name).read_bytes() for name in os.listdir(tmp_path / "run")}
    with pytest.raises(RunDirectoryError, match="finished run.*--overwrite"):
        classify(tmp_path / "run", epochs=1)
    with pytest.raises(KeyboardInterrupt):
        classify(tmp_path / "run", overwrite=True, callbacks=(InterruptAtEpoch(1),))
    assert {name: (tmp_path / "run" / name).read_bytes() for name in os.listdir(tmp_path / "run")} == finished
    assert os.listdir(tmp_path) == ["run"]  # the new run's staging folder is gone
    assert classify(tmp_path / "run", overwrite=True, epochs=1).out_dir == str(tmp_path / "run")


def test_backup_and_restore_resumes_to_the_same_weights(tmp_path):
    texts = tf.constant(["a great film", "dull and slow", "wonderful acting", "a waste of time"] * 4)
    labels = np.array([1, 0, 1, 0] * 4)

    def train(callbacks):
        keras.utils.set_random_seed(3)
        model = TextClassifier(HubEncoder(TINY_ENCODER, trainable=False), TINY_PREPROCESSOR, 2, dropout=0.0)
        model.compile(learning_rate=1e-2)
        backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
        model.fit(texts, labels, epochs=4, batch_size=8, shuffle=False, verbose=0, callbacks=[backup, *callbacks])
        return model

    uninterrupted = [weight.numpy() for weight in train([]).trainable_weights]
    with pytest.raises(KeyboardInterrupt):
        train([InterruptAtEpoch(2)])
    resumed = [weight.numpy() for weight in train([]).trainable_weights]
    for expected, actual in zip(uninterrupted, resumed):
        np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_question_answering_run_reports_squad_metrics_and_baseline(tmp_path):
    result = finetune_question_answering(
        TINY_ENCODER, TINY_PREPROCESSOR, DATA / "squad" / "train-v2.0-first10articles.json", str(tmp_path / "qa"),
        max_seq_length=96, doc_stride=48, max_query_length=16,
        training=TrainingOptions(max_train_examples=24, max_validation_examples=8, epochs=1, batch_size=8, verbose=0),
    )
    metrics = json.loads((tmp_path / "qa" / "metrics.json").read_text())
    assert {"exact_match", "f1", "baseline_exact_match", "baseline_f1", "validation_loss"} <= set(metrics)
    assert metrics["total"] == 8
    held_out_titles = {example.qas_id for example in result.validation_examples}
    assert len(held_out_titles) == 8

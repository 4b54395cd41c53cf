"""The run machinery: interrupted runs and --resume, verified backups, overwriting a finished run, no retracing."""

import json
import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tests.training.tiny_runs import InterruptAtEpoch, classify
from tfhub_llm.layers.hub_layers import HubEncoder
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.training.backup import CorruptBackupError
from tfhub_llm.training.run import RunDirectoryError


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


def test_a_run_and_predictions_over_varying_lengths_log_no_retracing(tmp_path, caplog):
    def retracing_warnings():
        return [record for record in caplog.records if "retracing" in record.getMessage()]

    assert not logging.getLogger("tensorflow").filters  # nothing hides the warnings this test looks for
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        double = tf.function(lambda values: values * 2)
        for length in range(1, 7):
            double(tf.zeros([length]))
        assert retracing_warnings()  # the warning this test would see, from a function that does retrace
        caplog.clear()
        result = classify(tmp_path / "run", epochs=1)  # SST-2 phrases: each batch padded to its longest
        texts = ["fine", "a dull film", "a gripping , beautifully acted film about a lighthouse keeper and the sea"]
        for count in range(1, 8):
            result.model.predict([texts[count % 3]] * count + texts[: count % 3 + 1], verbose=0)
    assert retracing_warnings() == []


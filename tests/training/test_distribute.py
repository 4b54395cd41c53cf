"""Data-parallel ``fit`` trains the weights one process trains: examples/distributed_fit.py run three ways.

Two worker processes on loopback under ``MultiWorkerMirroredStrategy`` (the script launches them with
TF_CONFIG), one process under ``MirroredStrategy``, and one process without a strategy, all on the
same seeded global batches, with a TextClassifier over a tiny encoder without dropout and no dropout
before the head: the final weights must agree within float tolerance.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.harness import REPO, TINY_ENCODER, TINY_PREPROCESSOR

SCRIPT = REPO / "examples" / "distributed_fit.py"
TIMEOUT = 600
# Plain SGD: its steps are proportional to the gradients, so a gradient summed or scaled wrongly over the
# workers shows (Adam's normalisation would hide a factor, and turns float noise into full-size steps).
# Two workers add two half-batch gradients where one process takes the whole batch's: only rounding differs.
ATOL = 1e-5
# One global batch per epoch: a seeded reshuffle yields another order under MirroredStrategy than without a
# strategy (Keras draws from the dataset differently), and only with one batch are the batches then the same.
TINY_SETTINGS = ["--max-examples", "16", "--validation-examples", "16", "--batch-size", "16", "--epochs", "3",
                 "--seq-length", "32", "--optimizer", "sgd", "--learning-rate", "0.1", "--dropout", "0",
                 "--timeout", str(TIMEOUT)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dropout_free_encoder(tmp_path_factory):
    """A tiny random BERT without dropout, so training is deterministic, exported as a TF-Hub encoder."""
    from tfhub_llm.bert import BertConfig, build_bert_encoder, save_encoder

    config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                        hidden_dropout=0.0, attention_dropout=0.0)
    path = tmp_path_factory.mktemp("encoder") / "encoder"
    save_encoder(build_bert_encoder(config, seed=5), path, os.path.join(TINY_ENCODER, "assets", "vocab.txt"), True)
    return str(path)


def start(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    return subprocess.Popen([sys.executable, str(SCRIPT), *map(str, args)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process):
    """The process's output once it has ended; kills it past TIMEOUT."""
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"{SCRIPT.name} did not finish within {TIMEOUT} s:\n{output[-3000:]}")
    return process.returncode, output


@pytest.fixture(scope="module")
def runs(dropout_free_encoder, tmp_path_factory):
    """{strategy: output folder} of the three runs, started together."""
    model = ["--encoder", dropout_free_encoder, "--preprocessor", TINY_PREPROCESSOR]
    outs = {strategy: tmp_path_factory.mktemp(strategy) for strategy in ("multi-worker", "mirrored", "none")}
    processes = {strategy: start(*model, *TINY_SETTINGS, "--strategy", strategy, "--out", out)
                 for strategy, out in outs.items()}
    for strategy, process in processes.items():
        code, output = finish(process)
        assert code == 0, f"--strategy {strategy} failed:\n{output[-3000:]}"
        outs[strategy] = (outs[strategy] / "distributed_fit", output)
    return outs


def weights(folder, worker=0):
    with np.load(folder / f"weights-worker{worker}.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def assert_same_weights(actual, expected):
    assert list(actual) == list(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], atol=ATOL, rtol=0, err_msg=key)


def test_two_workers_train_the_weights_of_one_process(runs, dropout_free_encoder):
    folder, output = runs["multi-worker"]
    assert "launch: 2 workers at 127.0.0.1:" in output and "done: every worker finished" in output
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and metrics["train_examples"] == 16 and len(metrics["history"]["loss"]) == 3
    reference = weights(runs["none"][0])
    assert_same_weights(weights(folder, worker=0), reference)
    assert_same_weights(weights(folder, worker=1), weights(folder, worker=0))
    assert_weights_moved(reference, dropout_free_encoder)


def test_mirrored_strategy_trains_the_weights_of_one_process(runs):
    folder, _ = runs["mirrored"]
    assert json.loads((folder / "metrics.json").read_text())["replicas"] >= 1
    assert_same_weights(weights(folder), weights(runs["none"][0]))


def assert_weights_moved(trained, encoder_handle):
    """Training moved the encoder's weights far more than the tolerance (so the comparisons can fail)."""
    from tfhub_llm.layers.hub_layers import HubEncoder

    initial = [weight.numpy() for weight in HubEncoder(encoder_handle, trainable=True).trainable_weights]
    trained_arrays = list(trained.values())[:len(initial)]
    assert [array.shape for array in trained_arrays] == [array.shape for array in initial]
    largest_move = max(np.abs(after - before).max() for after, before in zip(trained_arrays, initial))
    assert largest_move > 10 * ATOL


def test_a_failing_worker_fails_the_launch(tmp_path):
    code, output = finish(start("--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR, *TINY_SETTINGS,
                                "--train", tmp_path / "missing.tsv", "--out", tmp_path))
    assert code != 0
    assert "missing.tsv" in output and "exited with status" in output


def test_global_batch_must_split_over_the_workers(tmp_path):
    code, output = finish(start("--batch-size", "15", "--workers", "2", "--out", tmp_path))
    assert code == 2 and "--batch-size 15 must split evenly over --workers 2" in output

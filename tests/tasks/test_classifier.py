"""TextClassifier: heads, training from raw text, default compile, and the shared task check (config, .keras and
serving round trips) for single texts, pairs, multi-label and regression."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR, run_task_test
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.training.optimization import WarmupLinearDecay

TEXTS = tf.constant(["a great film", "dull and slow", "wonderful acting", "a waste of time"] * 4)
BINARY = np.array([1, 0, 1, 0] * 4)


def test_binary_classifier_learns_and_reports_field_metrics():
    keras.utils.set_random_seed(0)
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, label_names=["negative", "positive"])
    model.compile(learning_rate=3e-3)
    history = model.fit(TEXTS, BINARY, epochs=8, batch_size=8, verbose=0).history
    assert {"loss", "accuracy", "f1", "auc"} <= set(history)
    assert history["loss"][-1] < history["loss"][0]
    probabilities = model.predict(TEXTS, verbose=0)
    assert probabilities.shape == (16, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert np.mean(probabilities.argmax(axis=1) == BINARY) == 1.0


def test_pairs_multilabel_and_regression_heads():
    pairs = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, text_pair=True)
    history = pairs.fit({"text": TEXTS, "text_b": TEXTS}, BINARY + 1, epochs=1, batch_size=8, verbose=0).history
    assert set(history) == {"loss", "accuracy"}
    multilabel = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, multi_label=True)
    k_hot = np.eye(3, dtype="float32")[BINARY] + np.eye(3, dtype="float32")[[2] * 16]
    multilabel.fit(TEXTS, k_hot, epochs=1, batch_size=8, verbose=0)
    sigmoid = multilabel.predict(TEXTS, verbose=0)
    assert sigmoid.shape == (16, 3) and not np.allclose(sigmoid.sum(axis=1), 1.0)
    regression = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=1)
    history = regression.fit(TEXTS, BINARY * 5.0, epochs=1, batch_size=8, verbose=0).history
    assert set(history) == {"loss", "mae"} and regression.loss == "mean_squared_error"


def test_default_compile_is_adamw_with_warmup_then_linear_decay():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2)
    model.compile(learning_rate=4e-5, train_steps=100, warmup_fraction=0.1)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, WarmupLinearDecay)
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    np.testing.assert_allclose(rates, [0.0, 2e-5, 4e-5, 2e-5, 0.0], atol=1e-12)


def test_user_compile_replaces_defaults():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[])
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    model.fit(TEXTS, BINARY, epochs=1, batch_size=8, verbose=0)


def served_outputs(model, inputs):
    """What the classifier's serving export must give on ``inputs``, from ``predict``."""
    probabilities = model.predict(inputs, verbose=0)
    if model.num_classes == 1:
        return {"value": probabilities[:, 0]}
    label = (probabilities > 0.5).astype(np.int64) if model.multi_label else probabilities.argmax(axis=1)
    outputs = {"probabilities": probabilities, "label": label}
    if model.label_names and not model.multi_label:
        outputs["label_name"] = np.array([name.encode() for name in model.label_names], dtype=object)[label]
    return outputs


@pytest.mark.slow  # the shared task check: predict, a fit step, config, .keras and serving-export round trips
def test_keras_round_trip_keeps_weights_config_and_optimizer(tmp_path):
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, label_names=["neg", "pos"], dropout=0.2)
    model.compile(learning_rate=1e-3, train_steps=4)
    model.fit(TEXTS, BINARY, epochs=2, batch_size=8, verbose=0)
    restored = run_task_test(model, TEXTS, (TEXTS, BINARY), tmp_path, {"text": TEXTS.numpy().tolist()},
                             served_outputs(model, TEXTS))
    assert (restored.label_names, restored.dropout) == (["neg", "pos"], 0.2)
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 4


@pytest.mark.slow  # three models through the whole task check, each exported and served
@pytest.mark.parametrize("kind", ["pairs", "multi_label", "regression"])
def test_every_head_passes_the_task_check(kind, tmp_path):
    arguments = {"pairs": {"num_classes": 3, "text_pair": True}, "multi_label": {"num_classes": 3, "multi_label": True},
                 "regression": {"num_classes": 1}}[kind]
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, **arguments)
    inputs = {"text": TEXTS, "text_b": TEXTS[::-1]} if kind == "pairs" else TEXTS
    targets = {"pairs": BINARY + 1, "multi_label": np.eye(3, dtype="float32")[BINARY], "regression": BINARY * 5.0}[kind]
    serving_inputs = {name: texts.numpy().tolist() for name, texts in (inputs.items() if kind == "pairs" else [("text", inputs)])}
    run_task_test(model, inputs, (inputs, targets), tmp_path, serving_inputs, served_outputs(model, inputs))


def test_fixed_seed_training_is_reproducible():
    def train():
        keras.utils.set_random_seed(7)
        model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2)
        model.fit(TEXTS, BINARY, epochs=1, batch_size=8, verbose=0)
        return model.predict(TEXTS, verbose=0)

    np.testing.assert_array_equal(train(), train())


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="num_classes must be at least 1"):
        TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=0)
    with pytest.raises(ValueError, match="label_names has 1 names for 2 classes"):
        TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, label_names=["only"])

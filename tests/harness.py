"""What the tests share: where the models and data are, and assertions several test modules make.

In the spirit of KerasHub's ``TestCase``: a round trip through ``.keras`` and a check that a
serving export answers as ``predict`` does are written once here. Import as ``from tests.harness import ...``
(pyproject.toml puts the repository root on ``sys.path``).
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import threading

import tensorflow as tf

from savedmodels import MINILM, TINY
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MODEL_GARDEN_BERT = FIXTURES / "model_garden" / "mg_bert_tiny_uncased"
FIXTURE = MODEL_GARDEN_BERT
FIXTURE_ENCODER = str(FIXTURE / "encoder")
FIXTURE_PREPROCESSOR = str(FIXTURE / "preprocessor")
DATA = REPO / "data"
REFERENCE_DIR = REPO / "tests" / "reference"
SAVEDMODELS = TINY.parent
TINY_ENCODER = str(TINY / "encoder")
TINY_PREPROCESSOR = str(TINY / "preprocessor")
MINILM_ENCODER = str(MINILM / "encoder")
MINILM_PREPROCESSOR = str(MINILM / "preprocessor")

CLI_TIMEOUT_SECONDS = 300
EXAMPLE_TIMEOUT_SECONDS = 300
SERVED_MODEL_NAME = "mymodel"  # the model name of build_tiny_model's exports under a serving base dir
# What TensorFlow's C++ side prints to stderr while it is imported, whatever TF_CPP_MIN_LOG_LEVEL says
# (absl logging before absl::InitializeLog, tensorflow/tensorflow#100442); not the CLI's to control.
NATIVE_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} )")


def keras_round_trip(model, tmp_path, name="model.keras"):
    """``model`` saved to ``tmp_path/name`` and loaded back with ``keras.models.load_model``."""
    import keras

    model.save(tmp_path / name)
    return keras.models.load_model(tmp_path / name)


def assert_keras_round_trip(model, inputs, tmp_path, atol=1e-6):
    """Saves and reloads ``model``; asserts the restored model predicts as ``model`` does on ``inputs``. Returns it."""
    expected = model.predict(inputs, verbose=0)
    restored = keras_round_trip(model, tmp_path)
    assert_all_close(restored.predict(inputs, verbose=0), expected, atol=atol)
    return restored


def assert_all_close(actual, expected, atol):
    """``actual`` and ``expected`` (arrays, or dicts of arrays as task models predict them) agree within ``atol``."""
    import numpy as np

    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), (sorted(actual), sorted(expected))
        for key, value in expected.items():
            np.testing.assert_allclose(actual[key], value, atol=atol, err_msg=key)
    else:
        np.testing.assert_allclose(actual, expected, atol=atol)


def run_task_test(model, inputs, fit_data, tmp_path, serving_inputs, expected_outputs, atol=1e-5, compile_kwargs=None):
    """The check every task model passes, as KerasHub's ``TestCase.run_task_test`` does; ``model`` is left as it is.

    * ``predict`` on ``inputs`` gives finite values;
    * ``get_config`` is JSON and survives ``from_config``: the revived model's config is JSON-identical,
      and that model takes one ``fit`` step on ``fit_data`` (``(x, y)``, ``(x, y, sample_weight)`` or
      ``(dataset,)``) with a finite loss (compiled with ``compile_kwargs`` first, for a task without a default loss);
    * the ``.keras`` round trip predicts as ``model`` does;
    * ``export_for_serving`` writes a SavedModel whose ``serving_default`` on ``serving_inputs``
      (``{input name: [str]}``) gives ``expected_outputs`` (``{output name: array}``, from the model's
      own Python predictions), computed in a TF1 session as TF Serving does.

    Returns the model restored from ``.keras``, for the task's own assertions.
    """
    import keras
    import numpy as np

    from tfhub_llm.tf_serving import compare_session_outputs, export_for_serving

    predictions = model.predict(inputs, verbose=0)
    assert all(np.all(np.isfinite(value)) for value in keras.tree.flatten(predictions))

    config = json.dumps(model.get_config(), sort_keys=True)
    revived = type(model).from_config(json.loads(config))
    assert json.dumps(revived.get_config(), sort_keys=True) == config
    if compile_kwargs is not None:
        revived.compile(**compile_kwargs)
    x, y, sample_weight = (*fit_data, None, None)[:3]
    history = revived.fit(x, y, sample_weight=sample_weight, epochs=1, steps_per_epoch=1, verbose=0).history
    assert int(revived.optimizer.iterations) == 1 and np.isfinite(history["loss"][-1])

    restored = keras_round_trip(model, tmp_path)
    assert type(restored) is type(model)
    assert_all_close(restored.predict(inputs, verbose=0), predictions, atol=1e-6)

    exported = export_for_serving(model, tmp_path / "served")
    differences = compare_session_outputs(exported, serving_inputs, expected_outputs, atol=atol)
    assert not differences, differences
    return restored


def cli_command(*args):
    """The ``tfhub-llm`` command line with ``args`` (as strings), run through this Python."""
    return [sys.executable, "-m", "tfhub_llm.cli", *map(str, args)]


def run_cli(command):
    """Runs ``command`` from the repository root without trusted directories from the environment."""
    from tfhub_llm.hub import trust

    environment = {key: value for key, value in os.environ.items() if key != trust.TRUSTED_DIRS_ENV}
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS,
                          env=environment)


def assert_one_line_error(result, command, expected_parts):
    """The run exited 2 with one ``tfhub-llm COMMAND: error: ...`` line on stderr holding every expected part."""
    from tfhub_llm import cli

    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == cli.EXIT_BAD_INPUT, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if not NATIVE_LOG_LINE.match(line)]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"tfhub-llm {command}: error: "), lines[0]
    for part in expected_parts:
        assert part in lines[0], (part, lines[0])


def save_tiny_classifier(path):
    """Saves an untrained two-class TextClassifier over the tiny model to ``path``, as ``fit`` would leave it."""
    from tfhub_llm.tasks.classifier import TextClassifier

    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, 2, seq_length=16)
    model.optimizer.build(model.trainable_variables)  # as after fit: the file holds the optimizer's variables
    model.save(path)
    return path


def assert_ordinary_modes(*paths):
    """Each path has the mode ``open()`` / ``mkdir()`` give under the process umask (0644 / 0755 under 022)."""
    umask = os.umask(0o022)
    os.umask(umask)
    for path in paths:
        expected = (0o777 if os.path.isdir(path) else 0o666) & ~umask
        assert os.stat(path).st_mode & 0o777 == expected, (str(path), oct(os.stat(path).st_mode & 0o777), oct(expected))


# ---------------------------------------------------------------- the examples as a user runs them


def run_example(name, *args):
    """Runs examples/NAME.py with ``args``; returns (exit code, stdout and stderr together)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run([sys.executable, str(REPO / "examples" / f"{name}.py"), *map(str, args)],
                               env=env, cwd=REPO, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_SECONDS)
    return completed.returncode, completed.stdout + completed.stderr


def run_ok(name, *args):
    code, output = run_example(name, *args)
    assert code == 0, f"examples/{name}.py failed:\n{output[-4000:]}"
    return output


# ---------------------------------------------------------------- hand-made encoders (the security scan's subjects)


class HandMadeEncoder(tf.Module):
    """The TF-Hub BERT encoder interface; ``payload(pooled)`` runs inside ``__call__``."""

    def __init__(self, vocab_path, payload):
        super().__init__()
        self.embeddings = tf.Variable(tf.random.normal([16, 8], seed=1))
        self.vocab_file = tf.saved_model.Asset(vocab_path)
        self.do_lower_case = tf.Variable(True, trainable=False)
        self._payload = payload

    @tf.function
    def __call__(self, inputs, training=False):
        mask = tf.cast(inputs["input_mask"], tf.float32)[..., None]
        sequence_output = tf.gather(self.embeddings, inputs["input_word_ids"]) * mask
        pooled_output = tf.tanh(sequence_output[:, 0])
        pooled_output = self._payload(pooled_output)
        return {"pooled_output": pooled_output, "sequence_output": sequence_output,
                "encoder_outputs": [sequence_output], "default": pooled_output}


def writes_file(target):
    """A hand-made encoder payload that writes ``target`` when the encoder is called."""
    def payload(pooled):
        tf.io.write_file(target, "pwned")
        return pooled
    return payload


def save_hand_made_encoder(folder, payload):
    """Saves a :class:`HandMadeEncoder` running ``payload`` under ``folder/model``; returns that path."""
    os.makedirs(folder)
    vocab = os.path.join(folder, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n")
    encoder = HandMadeEncoder(vocab, payload)
    spec = {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ENCODER_INPUT_KEYS}
    for training in (False, True):
        encoder.__call__.get_concrete_function(spec, training=training)
    path = os.path.join(folder, "model")
    tf.saved_model.save(encoder, path)
    return path


# ---------------------------------------------------------------- a tiny servable SavedModel


class TinyServingModel(tf.Module):
    """Three signatures over string lengths; `scale` differs per version so routing is visible."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = tf.Variable(scale)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def classify(self, text):
        length = tf.cast(tf.strings.length(text, unit="UTF8_CHAR"), tf.float32)
        probabilities = tf.nn.softmax(tf.stack([5.0 - length, length * self.scale - 5.0], 1))
        return {"probabilities": probabilities, "label": tf.argmax(probabilities, axis=1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def length(self, text):
        return {"length": tf.strings.length(text)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="question"),
                                  tf.TensorSpec([None, 3], tf.float32, name="features")])
    def pair(self, question, features):
        check = tf.debugging.assert_non_negative(features, message="features must be >= 0")
        with tf.control_dependencies([check]):
            score = tf.reduce_sum(features, axis=1) * self.scale
        return {"answer": tf.strings.join([question, "?"]), "score": score,
                "echo_bytes": question}


def http_json(url, body: bytes | None = None, method=None):
    """(status, parsed JSON answer) of an HTTP request, error statuses included (for the serving tests)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def build_tiny_model(path: str, scale: float) -> None:
    """Saves a TinyServingModel with signatures serving_default (classify), length and pair."""
    module = TinyServingModel(scale)
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.classify, "length": module.length, "pair": module.pair})


# ---------------------------------------------------------------- Hugging Face tokenizer reference cases


def hf_cases():
    """The Hugging Face BertTokenizer cases of tests/reference (MiniLM's vocabulary): {name: case}."""
    return json.loads((REFERENCE_DIR / "minilm_tokenizer_cases.json").read_text(encoding="utf-8"))["cases"]


def check_against_hugging_face(preprocessor, case):
    """Asserts ``preprocessor`` packs ``case``'s segments exactly as HF BertTokenizer did."""
    segments = [preprocessor.tokenize(tf.constant([sentence])) for sentence in case["segments"]]
    packed = {key: value.numpy() for key, value in
              preprocessor.bert_pack_inputs(segments, seq_length=case["seq_length"]).items()}
    length = len(case["input_word_ids"])
    padding = [0] * (case["seq_length"] - length)
    assert packed["input_word_ids"][0].tolist() == case["input_word_ids"] + padding
    assert packed["input_type_ids"][0].tolist() == case["input_type_ids"] + padding
    assert packed["input_mask"][0].tolist() == [1] * length + padding


def resolve_error_in_thread(handle, wait_seconds=60):
    """The error ``handles.resolve(handle)`` raises in a thread (None if it returned); asserts it ended in time."""
    from tfhub_llm.hub import handles

    outcome = []

    def resolve():
        try:
            handles.resolve(handle)
            outcome.append(None)
        except Exception as error:  # noqa: BLE001  (the caller checks what it is)
            outcome.append(error)

    thread = threading.Thread(target=resolve, daemon=True)
    thread.start()
    thread.join(wait_seconds)
    assert not thread.is_alive(), f"resolving {handle} did not end within {wait_seconds} s"
    return outcome[0]

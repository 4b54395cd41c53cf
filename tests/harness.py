"""What the tests share: where the models and data are, and assertions several test modules make.

In the spirit of KerasHub's ``TestCase``: a round trip through ``.keras`` and a check that a
serving export answers as ``predict`` does are written once here. Import as ``from tests.harness import ...``
(pyproject.toml puts the repository root on ``sys.path``).
"""

import os
import pathlib
import re
import subprocess
import sys

from savedmodels import MINILM, TINY

REPO = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MODEL_GARDEN_BERT = FIXTURES / "model_garden" / "mg_bert_tiny_uncased"
FIXTURE = MODEL_GARDEN_BERT
FIXTURE_ENCODER = str(FIXTURE / "encoder")
FIXTURE_PREPROCESSOR = str(FIXTURE / "preprocessor")
DATA = REPO / "data"
SAVEDMODELS = TINY.parent
TINY_ENCODER = str(TINY / "encoder")
TINY_PREPROCESSOR = str(TINY / "preprocessor")
MINILM_ENCODER = str(MINILM / "encoder")
MINILM_PREPROCESSOR = str(MINILM / "preprocessor")

CLI_TIMEOUT_SECONDS = 300
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
    import numpy as np

    expected = model.predict(inputs, verbose=0)
    restored = keras_round_trip(model, tmp_path)
    np.testing.assert_allclose(restored.predict(inputs, verbose=0), expected, atol=atol)
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

"""Start-up: ``tfhub-llm --help``, ``--version``, ``predict`` and argument errors load no TensorFlow;
``import tfhub_llm`` turns TensorFlow's start-up noise down before TensorFlow loads.

Each case runs in a fresh interpreter (TensorFlow, once imported, stays in ``sys.modules``)."""

import importlib.metadata
import json
import os
import subprocess
import sys

import pytest

from tests.harness import NATIVE_LOG_LINE, REPO

PROBE = """
import json, sys
from tfhub_llm import cli
try:
    code = cli.main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules}))
"""


def _python(code, *args, environment=None):
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=environment or os.environ)


@pytest.mark.parametrize("args, code", [
    (["--help"], 0),
    (["--version"], 0),
    (["finetune", "classify", "--help"], 0),
    (["predict", "--server", "http://127.0.0.1:9", "--model", "m", "a film"], 2),  # nothing listens on port 9
    (["finetune", "classify", "--encoder", "E", "--preprocessor", "P", "--train", "T", "--text-column", "t",
      "--label-column", "l", "--out", "O", "--epochs", "-1"], 2),
])
def test_quick_commands_load_no_tensorflow(args, code):
    result = _python(PROBE, *args)
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"code": code, "tensorflow": False}, result.stderr[-3000:]


def test_version_comes_from_the_package_metadata():
    result = _python(PROBE, "--version")
    assert result.stdout.startswith(f"tfhub-llm {importlib.metadata.version('tfhub-llm')}\n")
    import tfhub_llm

    assert tfhub_llm.__version__ == importlib.metadata.version("tfhub-llm")


@pytest.mark.slow  # loads TensorFlow
def test_the_library_import_quiets_tensorflow_before_it_loads():
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = _python("import os, tfhub_llm; tfhub_llm.TextClassifier; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])",
                     environment=environment)
    assert result.stdout.strip() == "2", result.stderr[-3000:]
    assert [line for line in result.stderr.splitlines() if not NATIVE_LOG_LINE.match(line)] == []


@pytest.mark.slow  # loads every module
def test_every_public_name_is_listed_once_and_loads():
    import tfhub_llm

    listed = [name for names in tfhub_llm._MODULES.values() for name in names]
    assert sorted(listed) == sorted(tfhub_llm.__all__) and len(set(listed)) == len(listed)
    assert all(getattr(tfhub_llm, name) is not None for name in tfhub_llm.__all__)


@pytest.mark.parametrize("imports", [
    "import tfhub_llm\nimport keras",
    "import keras\nimport tfhub_llm",
    "import tfhub_llm\nimport tensorflow as tf\nkeras = tf.keras",  # TensorFlow looks keras up before importing it
    "from tfhub_llm import TextEmbedder\nimport keras",  # keras first imported by a module that registers classes
])
def test_keras_finds_the_packages_classes_after_a_bare_import(imports, tmp_path):
    from tests.harness import save_tiny_classifier

    path = tmp_path / "model.keras"
    save_tiny_classifier(path)
    run = _python(f"{imports}\nimport sys\nmodel = keras.models.load_model(sys.argv[1])\n"
                  "print(type(model).__name__, model.predict(['a film'], verbose=0).shape)", str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[:2] == ["TextClassifier", "(1,"]

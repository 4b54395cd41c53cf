"""What the tests share: where the models and data are, and assertions several test modules make.

In the spirit of KerasHub's ``TestCase``: a round trip through ``.keras`` and a check that a
serving export answers as ``predict`` does are written once here. Import as ``from tests.harness import ...``
(pyproject.toml puts the repository root on ``sys.path``).
"""

import pathlib

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

"""export_litert of a TextEmbedder: the tiny embedder converted (float32 and dynamic int8), run from strings.

Tolerances: float32 computes what Keras computes in another runtime (measured: at most 1.2e-7 apart on
the tiny model); int8 weights move the vectors by at most 0.006 (measured cosine with Keras' vectors
>= 0.9999 for mean, cls and pooled on the tiny model), so the test asks for cosine >= 0.999.
"""

import numpy as np
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.litert import LiteRTModel, check_litert, export_litert
from tfhub_llm.tasks.embedding import TextEmbedder

TEXTS = ["A gripping, beautifully acted film.", "ok", "", "HÉLLO Wörld! Ça va? " * 8, "東京 xqzvw 😀", "  "]
FLOAT_ATOL, INT8_MIN_COSINE = 1e-5, 0.999


def test_embedder_runs_on_device_as_keras_embeds(tmp_path):
    embedder = TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR, seq_length=16)  # 16: the long text is cut
    expected = embedder.predict(tf.constant(TEXTS), verbose=0)
    float_model = LiteRTModel(export_litert(embedder, tmp_path / "float.tflite"))
    assert float_model.input_names == ("text",) and float_model.output_names == ("embedding",)
    np.testing.assert_allclose(float_model(TEXTS)["embedding"], expected, atol=FLOAT_ATOL)

    int8 = LiteRTModel(export_litert(embedder, tmp_path / "int8.tflite", quantize="dynamic_int8"))(TEXTS)["embedding"]
    cosines = np.sum(int8 * expected, axis=1) / np.linalg.norm(int8, axis=1)  # expected rows have unit length
    assert cosines.min() >= INT8_MIN_COSINE, cosines

    report = check_litert(tmp_path / "int8.tflite")
    assert report.ok and report.outputs == ("embedding",), report.format()

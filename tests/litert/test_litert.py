"""export_litert / LiteRTModel: tiny classifiers converted (float, int8, float16; single texts and pairs) and
run from strings through ai-edge-litert's InterpreterWithCustomOps with TF Text's kernels.

Tolerances: the float model computes what Keras computes, in another runtime (XNNPACK), so
probabilities agree to 1e-5 and labels exactly; int8 weights (dynamic range quantization) move the
random tiny model's probabilities by at most 0.02; float16 weights by at most 1e-3.
"""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import FIXTURES, REPO, TINY_ENCODER, TINY_PREPROCESSOR, assert_ordinary_modes, save_hand_made_encoder
from tfhub_llm import cli
from tfhub_llm.errors import (
    InvalidArgumentError,
    InvalidArgumentTypeError,
    InvalidFileError,
    MissingFileError,
    TargetExistsError,
    UnsupportedPlatformError,
)
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.litert import LiteRTConversionError, LiteRTModel, check_litert, export_litert
from tfhub_llm.litert.tokenizer import on_device_tokenizer
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.packing import pack_segments

LABELS = ["negative", "neutral", "positive"]
SEQ_LENGTH = 16  # short, so that the long texts below are trimmed
TEXTS = ["A gripping, beautifully acted film.", "ok", "", "HÉLLO Wörld! Ça va? " * 8, "東京 xqzvw 😀", "  "]
TEXTS_B = ["A cat was sitting on the mat all afternoon long, " * 3, "", "fine", "x", "Profits rose.", "b"]
FLOAT_ATOL, INT8_ATOL, FLOAT16_ATOL = 1e-5, 0.02, 1e-3
SENTENCEPIECE_FIXTURE = FIXTURES / "model_garden" / "mg_albert_sp_uncased"


def _randomize_head(model, seed):
    """Large random output weights, so that probabilities and labels differ from row to row."""
    rng = np.random.default_rng(seed)
    for weight in model.get_layer("probabilities").weights:
        weight.assign(rng.normal(0, 3, weight.shape).astype("float32"))


def _inputs(pair):
    return {"text": TEXTS, "text_b": TEXTS_B} if pair else {"text": TEXTS}


def _keras_predict(model, pair):
    inputs = {key: tf.constant(value) for key, value in _inputs(pair).items()}
    return model.predict(inputs if pair else inputs["text"], verbose=0)


@pytest.fixture(scope="module")
def models():
    single = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, label_names=LABELS, seq_length=SEQ_LENGTH)
    pair = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, text_pair=True, seq_length=SEQ_LENGTH)
    _randomize_head(single, 0)
    _randomize_head(pair, 1)
    return {False: single, True: pair}


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("litert")
    return {(pair, quantize): export_litert(models[pair], folder / f"{pair}-{quantize}.tflite", quantize=quantize)
            for pair in (False, True) for quantize in (None, "dynamic_int8")}


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_float_model_gives_the_keras_predictions_from_strings(models, exported, pair):
    litert = LiteRTModel(exported[pair, None])
    outputs = litert(**_inputs(pair))
    expected = _keras_predict(models[pair], pair)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=FLOAT_ATOL)
    np.testing.assert_array_equal(outputs["label"], expected.argmax(axis=1))
    if pair:
        assert litert.input_names == ("text", "text_b") and "label_name" not in outputs
    else:
        assert litert.input_names == ("text",)
        assert outputs["label_name"].tolist() == [LABELS[i] for i in expected.argmax(axis=1)]


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_int8_model_is_close_and_smaller(models, exported, pair):
    outputs = LiteRTModel(exported[pair, "dynamic_int8"])(**_inputs(pair))
    np.testing.assert_allclose(outputs["probabilities"], _keras_predict(models[pair], pair), atol=INT8_ATOL)
    float_size, int8_size = (os.path.getsize(exported[pair, quantize]) for quantize in (None, "dynamic_int8"))
    assert int8_size < 0.6 * float_size  # the tiny model's tokenizer tables stay as they are


def test_float16_model_is_close(models, tmp_path):
    path = export_litert(models[False], tmp_path / "f16.tflite", quantize="float16")
    outputs = LiteRTModel(path)(TEXTS)
    np.testing.assert_allclose(outputs["probabilities"], _keras_predict(models[False], False), atol=FLOAT16_ATOL)


@pytest.mark.parametrize("options", [dict(num_classes=3, multi_label=True, label_names=LABELS), dict(num_classes=1)],
                         ids=["multi_label", "regression"])
def test_multi_label_and_regression_give_the_serving_outputs(options, tmp_path):
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, **options)
    _randomize_head(model, 3)
    outputs = LiteRTModel(export_litert(model, tmp_path / "m.tflite"))(TEXTS)
    expected = model.serving_module().serve(tf.constant(TEXTS))
    assert sorted(outputs) == sorted(expected)
    for name, value in expected.items():
        if value.dtype == tf.string:
            assert outputs[name].tolist() == [[v.decode() for v in row] for row in value.numpy()]
        else:
            np.testing.assert_allclose(outputs[name], value, atol=FLOAT_ATOL, err_msg=name)


def test_the_model_needs_only_builtins_and_tf_text_kernels(exported):
    ops = LiteRTModel(exported[True, None]).ops
    assert sorted(name for name in ops if name.startswith("CUSTOM:")) == [
        "CUSTOM:FastBertNormalize", "CUSTOM:FastWordpieceTokenizeWithOffsets"]
    assert "FULLY_CONNECTED" in ops and not any("Flex" in name or "Ragged" in name for name in ops)


@pytest.mark.parametrize("seq_length", [5, 9, 64])
def test_packing_matches_the_preprocessors_bert_pack_inputs(models, seq_length, monkeypatch):
    preprocessor = models[False].preprocessor
    monkeypatch.setattr(preprocessor, "seq_length", seq_length)
    tokenizer = on_device_tokenizer(preprocessor, models[False].encoder)
    special_ids = (preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id)
    for segments in ([TEXTS], [TEXTS, TEXTS_B]):
        expected = preprocessor([tf.constant(texts) for texts in segments])
        packed = pack_segments([tokenizer.tokenize(tf.constant(texts)) for texts in segments], seq_length,
                               *special_ids)
        for key, value in expected.items():
            np.testing.assert_array_equal(packed[key], value, err_msg=f"{key}, {len(segments)} segment(s)")


def test_check_litert_reports_signature_size_ops_and_sample_outputs(exported):
    report = check_litert(exported[False, None])
    assert_ordinary_modes(exported[False, None])
    text = report.format()
    assert report.ok, text
    assert report.inputs == ("text",) and set(report.outputs) == {"probabilities", "label", "label_name"}
    assert "FastWordpieceTokenizeWithOffsets" in text and "MB" in text and "label_name=" in text


def test_a_file_that_is_not_a_litert_model_fails_the_check(tmp_path):
    path = tmp_path / "broken.tflite"
    path.write_bytes(b"not a flatbuffer")
    report = check_litert(path)
    assert not report.ok and "broken.tflite" in report.format()


def test_runner_refuses_wrong_inputs(exported):
    pair = LiteRTModel(exported[True, None])
    with pytest.raises(InvalidArgumentError, match=r"takes the inputs \['text', 'text_b'\]"):
        pair(["only one text"])
    with pytest.raises(InvalidArgumentError, match="same number of rows"):
        pair(["a", "b"], ["c"])
    with pytest.raises(MissingFileError, match="no such LiteRT model file"):
        LiteRTModel("missing.tflite")


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_length_sorted_micro_batches_give_the_one_call_outputs_in_input_order(exported, pair):
    rows = 20  # at least micro_batches * 4, so the batch is cut; lengths shuffled against the order
    order = np.random.default_rng(0).permutation(rows)
    text = [(TEXTS[i % len(TEXTS)] + " word" * int(i)) for i in order]
    inputs = {"text": text, "text_b": [TEXTS_B[i % len(TEXTS_B)] for i in order]} if pair else {"text": text}
    whole = LiteRTModel(exported[pair, None], micro_batches=1)(**inputs)
    cut = LiteRTModel(exported[pair, None], micro_batches=4)(**inputs)
    assert cut.keys() == whole.keys()
    np.testing.assert_allclose(cut["probabilities"], whole["probabilities"], atol=FLOAT_ATOL)
    np.testing.assert_array_equal(cut["label"], whole["label"])
    with pytest.raises(InvalidArgumentError, match="micro_batches must be at least 1, got 0"):
        LiteRTModel(exported[pair, None], micro_batches=0)


def test_runner_refuses_a_broken_file_and_names_the_missing_runtime(exported, tmp_path, monkeypatch):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(InvalidFileError, match="broken.tflite: cannot load as a LiteRT model"):
        LiteRTModel(broken)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # as if ai-edge-litert were not installed
    with pytest.raises(UnsupportedPlatformError, match=r'pip install "tfhub-llm\[litert\]"'):
        LiteRTModel(exported[False, None])


def test_unsupported_models_and_quantizations_are_refused(models, tmp_path):
    with pytest.raises(InvalidArgumentTypeError, match="exports a TextClassifier or TextEmbedder, not Sequential"):
        export_litert(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "m.tflite")
    with pytest.raises(InvalidArgumentError, match="quantize must be one of"):
        export_litert(models[False], tmp_path / "m.tflite", quantize="int4")
    (tmp_path / "exists.tflite").write_bytes(b"")
    with pytest.raises(TargetExistsError, match="overwrite"):
        export_litert(models[False], tmp_path / "exists.tflite")
    assert sorted(os.listdir(tmp_path)) == ["exists.tflite"]


def test_an_encoder_op_without_a_tflite_kernel_is_named(tmp_path):
    handle = save_hand_made_encoder(str(tmp_path / "betainc"), lambda pooled: tf.math.betainc(pooled, pooled, pooled))
    model = TextClassifier(HubEncoder(handle, trust=True), TINY_PREPROCESSOR, num_classes=2)
    with pytest.raises(LiteRTConversionError, match=r"no TFLite builtin kernel: Betainc\b"):
        export_litert(model, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


class _ShiftedPreprocessor:
    """A preprocessor whose ids no Fast* tokenizer over its vocab reproduces."""

    def __init__(self, preprocessor):
        self.module, self.handle, self._preprocessor = preprocessor.module, "shifted-ids", preprocessor

    def tokenize(self, texts):
        return tf.ragged.map_flat_values(lambda ids: ids + 1, self._preprocessor.tokenize(texts))


def test_a_tokenization_no_fast_tokenizer_reproduces_is_refused():
    with pytest.raises(LiteRTConversionError, match="No on-device tokenizer reproduces the preprocessor 'shifted-ids'"):
        on_device_tokenizer(_ShiftedPreprocessor(HubPreprocessor(TINY_PREPROCESSOR)), HubEncoder(TINY_ENCODER))


@pytest.mark.slow
def test_a_sentencepiece_albert_runs_with_fast_sentencepiece(tmp_path):
    model = TextClassifier(HubEncoder(SENTENCEPIECE_FIXTURE / "encoder", trust=True),
                           HubPreprocessor(SENTENCEPIECE_FIXTURE / "preprocessor", trust=True, pad_to_longest=True),
                           num_classes=2)
    _randomize_head(model, 2)
    litert = LiteRTModel(export_litert(model, tmp_path / "albert.tflite"))
    assert "CUSTOM:TFText>FastSentencepieceTokenize" in litert.ops
    np.testing.assert_allclose(litert(TEXTS)["probabilities"], _keras_predict(model, False), atol=FLOAT_ATOL)


@pytest.mark.slow
def test_cli_exports_int8_and_checks_it(models, tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    models[True].save(model_path)
    out = tmp_path / "model.tflite"
    assert cli.main(["export", "litert", str(model_path), str(out), "--quantize", "dynamic-int8"]) == 0
    assert cli.main(["check-litert", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "inputs ['text', 'text_b']" in printed
    assert cli.main(["export", "litert", str(model_path), str(out)]) == 2  # exists, no --overwrite
    assert cli.main(["check-litert", str(REPO / "README.md")]) == 1

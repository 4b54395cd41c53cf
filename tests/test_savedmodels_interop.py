"""The exported pairs are consumable: Model Garden's interface, TF Serving's ops, hub.load, hub.KerasLayer
(tf-keras), HubEncoder/HubPreprocessor and saved_model_cli; and the converted MiniLM equals Hugging Face's."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: E402,F401  (registers the preprocessor's ops)

from tests.harness import (
    DATA,
    FIXTURE_ENCODER,
    FIXTURE_PREPROCESSOR,
    REFERENCE_DIR,
    REPO,
    SAVEDMODELS,
    check_against_hugging_face,
    hf_cases,
)
from tfhub_llm.bert import convert_hf_bert
from tfhub_llm.hub.security import saved_model_op_names

SENTENCES = ["Hello world, unaffable!", "", "Héllo 東京 😀", "a much longer sentence " * 5]
REFERENCE = REFERENCE_DIR / "minilm_outputs.npz"
SERVING_OPS = DATA / "tf_serving_ops"


def _load_recipes():
    spec = importlib.util.spec_from_file_location("savedmodels_build", REPO / "savedmodels" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    """The bert_tiny_random_uncased recipe, built fresh into a temporary folder."""
    out = tmp_path_factory.mktemp("savedmodels") / "bert_tiny_random_uncased"
    _load_recipes().build_tiny_random(out)
    return out


def _tf_serving_2_19_ops():
    core = json.loads((SERVING_OPS / "tf2.19.json").read_text())["core"]
    text_ops = json.loads((SERVING_OPS / "tf2.12_text2.12.1.json").read_text())["text"]
    return set(core) | set(text_ops)


def test_graphs_use_only_ops_tf_serving_2_19_loads(tiny_pair):
    allowed = _tf_serving_2_19_ops()
    for part in ("encoder", "preprocessor"):
        ops = saved_model_op_names(tiny_pair / part)
        assert ops - allowed == set(), part
    assert {"WordpieceTokenizeWithOffsets", "CaseFoldUTF8"} <= saved_model_op_names(tiny_pair / "preprocessor")
    # Model Garden's own preprocessor uses RoundRobinTrim, which TF Serving 2.19 lacks: the check sees it.
    assert saved_model_op_names(FIXTURE_PREPROCESSOR) - allowed == {"TFText>RoundRobinTrim"}


def test_op_names_of_a_non_savedmodel_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a SavedModel: no saved_model.pb"):
        saved_model_op_names(tmp_path)
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff not a proto")
    with pytest.raises(ValueError, match="saved_model.pb is not a SavedModel protobuf"):
        saved_model_op_names(tmp_path)


def _signatures(function, arguments=None):
    """The traced input signatures of a restored function (its first ``arguments`` positional ones)."""
    if not hasattr(function, "_list_all_concrete_functions_for_serialization"):
        function = function.__call__  # Model Garden's functions are Keras layer objects
    concrete = function._list_all_concrete_functions_for_serialization()
    return sorted(repr(cf.structured_input_signature[0][:arguments]) for cf in concrete)


def test_interface_matches_model_garden(tiny_pair):
    ours, theirs = hub.load(str(tiny_pair / "encoder")), hub.load(FIXTURE_ENCODER)
    for name in ("variables", "trainable_variables", "regularization_losses", "vocab_file", "do_lower_case"):
        assert hasattr(ours, name), name
    # (inputs, training) as Model Garden traces them; its Keras 2 export adds a third, unused ``mask``.
    assert _signatures(ours.__call__, 2) == _signatures(theirs.__call__, 2)
    assert ours.signatures["serving_default"].structured_input_signature == \
           theirs.signatures["serving_default"].structured_input_signature
    assert pathlib.Path(ours.vocab_file.asset_path.numpy().decode()).read_bytes() == \
           (pathlib.Path(FIXTURE_PREPROCESSOR) / "assets" / "vocab.txt").read_bytes()
    assert len(ours.trainable_variables) == len(theirs.trainable_variables) + 5  # + the MLM head's 5
    ours_p, theirs_p = hub.load(str(tiny_pair / "preprocessor")), hub.load(FIXTURE_PREPROCESSOR)
    assert _signatures(ours_p.bert_pack_inputs) == _signatures(theirs_p.bert_pack_inputs)
    assert ours_p.signatures["serving_default"].structured_input_signature == \
           theirs_p.signatures["serving_default"].structured_input_signature
    assert set(ours_p.tokenize.get_special_tokens_dict()) == set(theirs_p.tokenize.get_special_tokens_dict())


def _hub_load_outputs(pair):
    preprocessor, encoder = hub.load(str(pair / "preprocessor")), hub.load(str(pair / "encoder"))
    packed = preprocessor(tf.constant(SENTENCES))
    outputs = encoder(packed, training=False)
    return {"input_word_ids": packed["input_word_ids"].numpy(), "pooled_output": outputs["pooled_output"].numpy(),
            "sequence_output": outputs["sequence_output"].numpy()}


def test_mlm_sub_object_and_any_sequence_length(tiny_pair):
    encoder, preprocessor = hub.load(str(tiny_pair / "encoder")), hub.load(str(tiny_pair / "preprocessor"))
    for seq_length in (3, 200, 512):
        packed = preprocessor.bert_pack_inputs([preprocessor.tokenize(tf.constant(SENTENCES))], seq_length=seq_length)
        positions = tf.constant([[1, 2]] * len(SENTENCES))
        outputs = encoder.mlm({**packed, "masked_lm_positions": positions}, training=False)
        assert outputs["mlm_logits"].shape == (len(SENTENCES), 2, 30522)
        assert outputs["sequence_output"].shape == (len(SENTENCES), seq_length, 32)
    serving = encoder.signatures["serving_default"](**{k: v for k, v in packed.items()})
    assert set(serving) == {"default", "pooled_output", "sequence_output", "encoder_outputs_0", "encoder_outputs_1"}
    np.testing.assert_allclose(serving["pooled_output"], encoder(packed)["pooled_output"], atol=1e-6)


_TF_KERAS_SCRIPT = """
import json, sys
import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
pair, sentences, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
strings = tf.keras.layers.Input(shape=(), dtype=tf.string)
packed = hub.KerasLayer(pair + "/preprocessor")(strings)
encoder = hub.KerasLayer(pair + "/encoder", trainable=True)
outputs = encoder(packed)
model = tf.keras.Model(strings, {"input_word_ids": packed["input_word_ids"],
                                 "pooled_output": outputs["pooled_output"],
                                 "sequence_output": outputs["sequence_output"]})
result = {k: v.numpy() for k, v in model(tf.constant(sentences)).items()}
np.savez(out, trainable_weights=len(encoder.trainable_weights), **result)
"""


@pytest.mark.slow  # a fresh TensorFlow process: about 30-50 s on 2 cores
def test_keras_layer_under_tf_keras_gives_the_same_outputs(tiny_pair, tmp_path):
    out = tmp_path / "tf_keras.npz"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _TF_KERAS_SCRIPT, str(tiny_pair), json.dumps(SENTENCES), str(out)],
                   env=env, check=True, timeout=300)
    got, want = np.load(out), _hub_load_outputs(tiny_pair)
    assert int(got["trainable_weights"]) == len(hub.load(str(tiny_pair / "encoder")).trainable_variables)
    np.testing.assert_array_equal(got["input_word_ids"], want["input_word_ids"])
    np.testing.assert_allclose(got["pooled_output"], want["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(got["sequence_output"], want["sequence_output"], atol=1e-5)


def test_hub_layers_give_the_same_outputs(tiny_pair):
    layers = pytest.importorskip("tfhub_llm.layers.hub_layers")
    preprocessor = layers.HubPreprocessor(str(tiny_pair / "preprocessor"))
    encoder = layers.HubEncoder(str(tiny_pair / "encoder"))
    packed = preprocessor(tf.constant(SENTENCES))
    outputs = encoder(packed)
    want = _hub_load_outputs(tiny_pair)
    np.testing.assert_array_equal(np.asarray(packed["input_word_ids"]), want["input_word_ids"])
    np.testing.assert_allclose(np.asarray(outputs["pooled_output"]), want["pooled_output"], atol=1e-5)
    np.testing.assert_allclose(np.asarray(outputs["sequence_output"]), want["sequence_output"], atol=1e-5)
    assert encoder.has_mlm


@pytest.mark.parametrize("part, names", [
    ("encoder", ["input_word_ids", "input_mask", "input_type_ids", "pooled_output", "sequence_output",
                 "encoder_outputs_1"]),
    ("preprocessor", ["sentences", "input_word_ids", "input_mask", "input_type_ids"]),
])
def test_saved_model_cli_lists_the_signature(tiny_pair, part, names):
    cli = pathlib.Path(sys.executable).parent / "saved_model_cli"
    shown = subprocess.run([str(cli), "show", "--all", "--dir", str(tiny_pair / part)], capture_output=True,
                           text=True, check=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    assert "signature_def['serving_default']" in shown
    for name in names:
        assert f"['{name}']" in shown, name


@pytest.fixture(scope="module")
def minilm_pair(tmp_path_factory):
    built = SAVEDMODELS / "minilm_l6_h384_uncased"
    if all((built / part / "saved_model.pb").is_file() for part in ("encoder", "preprocessor")):
        return built
    out = tmp_path_factory.mktemp("minilm") / "minilm_l6_h384_uncased"
    convert_hf_bert(_load_recipes().minilm_source_dir(), out, progress=lambda line: None)
    return out


@pytest.mark.slow
def test_converted_minilm_matches_transformers_and_sentence_transformers(minilm_pair):
    reference = np.load(REFERENCE)
    encoder, preprocessor = hub.load(str(minilm_pair / "encoder")), hub.load(str(minilm_pair / "preprocessor"))
    inputs = {key: tf.constant(reference[key]) for key in ("input_word_ids", "input_mask", "input_type_ids")}
    outputs = encoder(inputs, training=False)
    unmasked = reference["input_mask"].astype(bool)
    assert np.abs(outputs["sequence_output"].numpy()[unmasked] - reference["sequence_output"][unmasked]).max() < 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - reference["pooled_output"]).max() < 1e-4

    packed = preprocessor(tf.constant(reference["sentences"]))
    mask = packed["input_mask"].numpy()[..., None].astype(np.float32)
    mean_pooled = (encoder(packed)["sequence_output"].numpy() * mask).sum(1) / mask.sum(1)
    embeddings = mean_pooled / np.linalg.norm(mean_pooled, axis=1, keepdims=True)
    cosine = (embeddings * reference["sentence_embeddings"]).sum(1)
    assert cosine.min() >= 0.9999, cosine


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(hf_cases()))
def test_converted_minilm_preprocessor_matches_hugging_face(minilm_pair, name):
    check_against_hugging_face(hub.load(str(minilm_pair / "preprocessor")), hf_cases()[name])

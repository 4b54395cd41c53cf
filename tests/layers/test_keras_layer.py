"""tfhub_llm.KerasLayer, the drop-in for hub.KerasLayer: every shape of TF-Hub text model in functional, Sequential and
subclassed Keras 3 models; fit moving (or not) the SavedModel's weights; .keras, model.export and the refusals."""

import hashlib
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import FIXTURES, TINY_ENCODER, TINY_PREPROCESSOR, keras_round_trip, save_hand_made_encoder, writes_file
from tfhub_llm import (
    HandleError,
    HubEncoder,
    KerasLayer,
    TextEmbedder,
    UntrustedModelError,
    export_for_serving,
    export_text_embedding,
)
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub import handles, trust
from tfhub_llm.hub.archive import write_saved_model_archive
from tfhub_llm.hub.trust import RemoteHandleError, allowing_remote_handles
from tfhub_llm.layers.keras_layer import UnserializableHandleError
from tfhub_llm.tf_serving.export import WARMUP_FILE, read_warmup_requests

MODEL_GARDEN = FIXTURES / "model_garden"
TEXTS = ["the movie was great", "a dull, tired plot", "héllo 東京", ""]
LABELS = np.array([1.0, 0.0, 1.0, 0.0])


def _family(name, part):
    return str(MODEL_GARDEN / name / part)


# ---------------------------------------------------------------- hand-made SavedModels of the other shapes


def _save_nnlm_like(path):
    """An NNLM-style text embedding saved as TF Hub's own ones are: explicit ``variables`` / ``trainable_variables``,
    ``regularization_losses``, and a ``__call__`` with a ``training`` argument that halves the vectors."""
    root = tf.train.Checkpoint()
    root.table = tf.Variable(tf.random.stateless_normal([64, 4], seed=[1, 2]), name="table")
    root.scale = tf.Variable(tf.ones([4]), trainable=False, name="scale")
    root.variables = [root.table, root.scale]
    root.trainable_variables = [root.table]
    root.regularization_losses = [tf.function(lambda: 0.01 * tf.reduce_sum(root.table ** 2), input_signature=[])]

    @tf.function
    def call(texts, training=False):
        words = tf.strings.split(tf.strings.lower(texts)).to_tensor(default_value="")
        present = tf.cast(words != "", tf.float32)[..., None]
        vectors = tf.gather(root.table, tf.strings.to_hash_bucket_fast(words, 64)) * present
        mean = tf.reduce_sum(vectors, axis=1) / tf.maximum(tf.reduce_sum(present, axis=1), 1.0) * root.scale
        return mean * 0.5 if training else mean

    for training in (False, True):
        call.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
    root.__call__ = call
    tf.saved_model.save(root, str(path))
    return str(path)


class _Ids(tf.Module):
    """A model called on one int32 tensor of ids ``[batch, seq]`` → ``[batch, 3]``, with a ``tokens`` signature."""

    def __init__(self):
        super().__init__()
        self.embeddings = tf.Variable(tf.random.stateless_normal([50, 3], seed=[3, 4]))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def __call__(self, ids):
        return tf.reduce_mean(tf.gather(self.embeddings, ids), axis=1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def tokens(self, text):
        ids = tf.cast(tf.strings.to_hash_bucket_fast(tf.strings.split(text), 50), tf.int32).to_tensor()
        return {"ids": ids, "vectors": self(ids)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras_layer")
    ids = _Ids()
    tf.saved_model.save(ids, str(root / "ids"), signatures={"tokens": ids.tokens, "serving_default": ids.tokens})
    return {"nnlm": _save_nnlm_like(root / "nnlm"), "ids": str(root / "ids"), "root": root}


@pytest.fixture(scope="module")
def our_text_embedding(tmp_path_factory):
    embedder = TextEmbedder(HubEncoder(TINY_ENCODER, trainable=True, micro_batches=1), TINY_PREPROCESSOR)
    return str(export_text_embedding(embedder, tmp_path_factory.mktemp("embedding") / "text_embedding"))


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv(trust.TRUSTED_DIRS_ENV, raising=False)
    monkeypatch.setattr(trust, "_trusted_directories", [])


def _fit_changes(model, layer, x, y):
    """Fits two epochs of one batch; returns, per weight of ``layer``, whether it changed."""
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = [weight.numpy().copy() for weight in layer.weights]
    model.fit(x, y, epochs=2, batch_size=len(y), verbose=0)
    return [not np.allclose(old, weight.numpy()) for old, weight in zip(before, layer.weights)]


def _serve(path, *inputs):
    loaded = tf.saved_model.load(str(path))  # kept while it serves: its functions use its variables
    return loaded.serve(*inputs).numpy()


# ---------------------------------------------------------------- BERT encoders and preprocessors (the seed flow)


def _classifier(family, trainable):
    text = keras.Input(shape=(), dtype=tf.string)
    encoder_inputs = KerasLayer(_family(family, "preprocessor"), name="preprocessing")(text)
    encoder = KerasLayer(_family(family, "encoder"), trainable=trainable, name="BERT_encoder")
    outputs = encoder(encoder_inputs)
    return keras.Model(text, keras.layers.Dense(1)(outputs["pooled_output"])), encoder


@pytest.mark.parametrize("family", [
    "mg_bert_tiny_uncased",
    pytest.param("mg_albert_sp_uncased", marks=pytest.mark.slow),
    pytest.param("mobilebert_seq64", marks=pytest.mark.slow),
])
def test_model_garden_encoder_in_a_functional_model_trains_only_when_trainable(family):
    model, encoder = _classifier(family, trainable=True)
    assert encoder.trainable_weights and len(encoder.weights) == len(handles.module_variables(encoder.resolved_object))
    assert sum(_fit_changes(model, encoder, tf.constant(TEXTS), LABELS)) > len(encoder.trainable_weights) // 2
    frozen_model, frozen = _classifier(family, trainable=False)
    assert not frozen.trainable_weights
    assert not any(_fit_changes(frozen_model, frozen, tf.constant(TEXTS), LABELS))


def test_our_bert_pair_matches_the_saved_model_and_round_trips(tmp_path):
    text = keras.Input(shape=(), dtype=tf.string)
    encoder_inputs = KerasLayer(TINY_PREPROCESSOR)(text)
    pooled = KerasLayer(TINY_ENCODER, trainable=True, output_key="pooled_output")(encoder_inputs)
    model = keras.Model(text, pooled)
    preprocessor, encoder = handles.load(TINY_PREPROCESSOR), handles.load(TINY_ENCODER)
    want = encoder(preprocessor(tf.constant(TEXTS)))["pooled_output"].numpy()
    np.testing.assert_allclose(model.predict(tf.constant(TEXTS), verbose=0), want, atol=1e-5)
    restored = keras_round_trip(model, tmp_path)
    np.testing.assert_allclose(restored.predict(tf.constant(TEXTS), verbose=0), want, atol=1e-5)
    model.export(tmp_path / "export", verbose=False)
    np.testing.assert_allclose(_serve(tmp_path / "export", tf.constant(TEXTS)), want, atol=1e-5)


@pytest.mark.parametrize("family", ["bert_cased_seq96_mlm", "albert_sp_seq32_mlm"])  # ragged rank 2 and 1
def test_bert_on_glue_preprocessing_model_with_tokenize_and_bert_pack_inputs(family, tmp_path):
    """The TF Hub "BERT on GLUE" tutorial's make_bert_preprocess_model, with callable handles."""
    preprocessor = handles.load(_family(family, "preprocessor"))
    inputs = [keras.Input(shape=(), dtype=tf.string, name=name) for name in ("sentence1", "sentence2")]
    tokenize = KerasLayer(preprocessor.tokenize, name="tokenizer")
    segments = [tokenize(segment) for segment in inputs]
    assert all(segment.ragged for segment in segments)  # Keras 3 alone would make them dense
    packer = KerasLayer(preprocessor.bert_pack_inputs, arguments=dict(seq_length=24), name="packer")
    model = keras.Model(inputs, packer(segments))
    first, second = tf.constant(TEXTS), tf.constant(TEXTS[::-1])
    want = preprocessor.bert_pack_inputs([preprocessor.tokenize(first), preprocessor.tokenize(second)], seq_length=24)
    got = model([first, second])
    for key, value in want.items():
        np.testing.assert_array_equal(got[key].numpy(), value.numpy())
    with pytest.raises(UnserializableHandleError, match="callable .*only a string handle"):
        model.save(tmp_path / "model.keras")
    model.export(tmp_path / "export", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    served = loaded.serve([first, second])
    np.testing.assert_array_equal(served["input_word_ids"].numpy(), want["input_word_ids"].numpy())


def test_export_for_serving_of_a_model_with_keras_layers_serves_raw_strings(tmp_path):
    texts = [keras.Input(shape=(), dtype=tf.string, name=name) for name in ("premise", "hypothesis")]
    preprocessor = handles.load(TINY_PREPROCESSOR)
    tokenize = KerasLayer(preprocessor.tokenize)
    packed = KerasLayer(preprocessor.bert_pack_inputs, arguments=dict(seq_length=16))([tokenize(t) for t in texts])
    pooled = KerasLayer(TINY_ENCODER, output_key="pooled_output")(packed)
    model = keras.Model(texts, {"score": keras.layers.Dense(1)(pooled)})
    pairs = [tf.constant(TEXTS), tf.constant(TEXTS[::-1])]
    path = export_for_serving(model, tmp_path / "served")
    loaded = tf.saved_model.load(path)
    served = loaded.signatures["serving_default"](premise=pairs[0], hypothesis=pairs[1])
    np.testing.assert_allclose(served["score"].numpy(), model.predict(pairs, verbose=0)["score"], atol=1e-5)
    warmup = read_warmup_requests(os.path.join(path, WARMUP_FILE))
    assert sorted(warmup[0].predict_log.request.inputs) == ["hypothesis", "premise"]


# ---------------------------------------------------------------- text embeddings in Sequential models


@pytest.mark.parametrize("trainable", [True, False])
def test_nnlm_like_embedding_in_sequential_trains_passes_training_and_adds_losses(saved, trainable):
    layer = KerasLayer(saved["nnlm"], input_shape=[], dtype=tf.string, trainable=trainable)
    model = keras.Sequential([layer, keras.layers.Dense(1)])
    assert model.inputs[0].dtype == "string" and model.output_shape == (None, 1)
    texts = tf.constant(TEXTS)
    in_inference = layer(texts, training=False)
    in_training = layer(texts, training=True)
    np.testing.assert_allclose(in_training, in_inference * (0.5 if trainable else 1.0), atol=1e-6)
    assert len(layer.losses) == (1 if trainable else 0)  # the regularization loss of the last (training) call
    changed = _fit_changes(model, layer, texts, LABELS)
    assert changed == [trainable, False]  # the table moves when trainable; the non-trainable scale never


def test_our_text_embedding_export_in_sequential_round_trips_and_serves(our_text_embedding, tmp_path):
    layer = KerasLayer(our_text_embedding, input_shape=[], dtype=tf.string, trainable=True)
    model = keras.Sequential([layer, keras.layers.Dense(1)])
    assert any(_fit_changes(model, layer, tf.constant(TEXTS), LABELS))
    want = model.predict(tf.constant(TEXTS), verbose=0)
    restored = keras_round_trip(model, tmp_path)  # the fine-tuned weights come back
    np.testing.assert_allclose(restored.predict(tf.constant(TEXTS), verbose=0), want, atol=1e-5)
    model.export(tmp_path / "export", verbose=False)
    np.testing.assert_allclose(_serve(tmp_path / "export", tf.constant(TEXTS)), want, atol=1e-5)


@keras.saving.register_keras_serializable(package="tests")
class SubclassedClassifier(keras.Model):
    def __init__(self, handle, **kwargs):
        super().__init__(**kwargs)
        self.handle = handle
        self.embed = KerasLayer(handle, trainable=True)
        self.head = keras.layers.Dense(1)

    def call(self, texts):
        return self.head(self.embed(texts))

    def get_config(self):
        return {**super().get_config(), "handle": self.handle}


def test_subclassed_model_trains_the_embedding_and_round_trips(saved, tmp_path):
    model = SubclassedClassifier(saved["nnlm"])
    assert _fit_changes(model, model.embed, tf.constant(TEXTS), LABELS) == [True, False]
    # Keras rebuilds a loaded subclassed model by calling it on float32 placeholders, as here.
    assert model(keras.KerasTensor((None,), "float32")).shape == (None, 1)
    want = model.predict(tf.constant(TEXTS), verbose=0)
    restored = keras_round_trip(model, tmp_path)
    np.testing.assert_allclose(restored.predict(tf.constant(TEXTS), verbose=0), want, atol=1e-6)


def test_only_keras_shape_inference_gets_placeholders_of_the_declared_dtype(saved):
    layer = KerasLayer(saved["nnlm"])
    # Keras' shape inference (a graph of its own, float32 placeholders): the layer traces on strings instead.
    assert SubclassedClassifier(saved["nnlm"])(keras.KerasTensor((None,), "float32")).shape == (None, 1)
    # A traced function's wrongly typed input is refused, not swapped for a placeholder.
    with pytest.raises((TypeError, ValueError)):
        tf.function(layer)(tf.constant([1.0, 2.0]))
    with pytest.raises((TypeError, ValueError)):
        layer(tf.constant([1.0, 2.0]))  # eagerly


# ---------------------------------------------------------------- int32 ids, signatures


def test_model_called_on_one_int32_tensor(saved, tmp_path):
    ids = keras.Input(shape=(None,), dtype="int32")
    layer = KerasLayer(saved["ids"], trainable=True)
    model = keras.Model(ids, keras.layers.Dense(1)(layer(ids)))
    batch = np.array([[1, 2, 3], [4, 5, 0], [7, 0, 0], [9, 9, 9]], dtype=np.int32)
    assert any(_fit_changes(model, layer, batch, LABELS))
    np.testing.assert_allclose(keras_round_trip(model, tmp_path).predict(batch, verbose=0),
                               model.predict(batch, verbose=0), atol=1e-6)


def test_signature_outputs_as_dict_and_output_key(saved, tmp_path):
    text = keras.Input(shape=(), dtype=tf.string, name="text")
    outputs = KerasLayer(saved["ids"], signature="tokens", signature_outputs_as_dict=True)(text)
    assert sorted(outputs) == ["ids", "vectors"]
    vectors = KerasLayer(saved["ids"], signature="tokens", output_key="vectors")({"text": text})
    model = keras.Model(text, [outputs["vectors"], vectors])
    module = handles.load(saved["ids"])
    want = module.signatures["tokens"](text=tf.constant(TEXTS))["vectors"].numpy()
    for got in model(tf.constant(TEXTS)):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
    restored = keras_round_trip(model, tmp_path)
    np.testing.assert_allclose(restored(tf.constant(TEXTS))[1].numpy(), want, atol=1e-6)


def test_wrong_signature_or_output_key_lists_the_available_ones(saved):
    with pytest.raises(InvalidArgumentError, match=r"no signature 'token'.*\['serving_default', 'tokens'\]"):
        KerasLayer(saved["ids"], signature="token", output_key="ids")
    with pytest.raises(InvalidArgumentError, match=r"exactly one of output_key= \(one of \['ids', 'vectors'\]\)"):
        KerasLayer(saved["ids"], signature="tokens")
    with pytest.raises(InvalidArgumentError, match="signature_outputs_as_dict=True needs signature="):
        KerasLayer(saved["ids"], signature_outputs_as_dict=True)
    text = keras.Input(shape=(), dtype=tf.string)
    with pytest.raises(InvalidArgumentError, match=r"no output 'vector'; its outputs are \['ids', 'vectors'\]"):
        KerasLayer(saved["ids"], signature="tokens", output_key="vector")(text)
    with pytest.raises(InvalidArgumentError, match="output_key='pooled' needs a dict output"):
        KerasLayer(saved["nnlm"], output_key="pooled")(text)
    with pytest.raises(InvalidArgumentError, match="cannot be trainable"):
        KerasLayer(saved["ids"], signature="tokens", output_key="ids", trainable=True)(text)


# ---------------------------------------------------------------- handle kinds


def test_http_tfhub_dev_and_kaggle_handles_resolve_through_tensorflow_hub(saved, tmp_path, serve_directory,
                                                                           monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    write_saved_model_archive(saved["nnlm"], tmp_path / "hub" / "nnlm" / "1")
    url = serve_directory(tmp_path / "hub") + "/nnlm/1"
    want = handles.load(saved["nnlm"])(tf.constant(TEXTS)).numpy()
    # tfhub.dev and Kaggle handles are https URLs that tensorflow_hub caches by the sha1 of the handle: filled here.
    hub_handles = ["https://tfhub.dev/google/nnlm-en-dim50/2", "https://www.kaggle.com/models/google/nnlm/TensorFlow2/en-dim50/1"]
    for handle in hub_handles:
        shutil.copytree(saved["nnlm"], cache / hashlib.sha1(handle.encode()).hexdigest())
    for handle in [url, *hub_handles]:
        model = keras.Sequential([KerasLayer(handle, input_shape=[], dtype=tf.string)])
        np.testing.assert_allclose(model(tf.constant(TEXTS)).numpy(), want, atol=1e-6)
    model.save(tmp_path / "remote.keras")
    with pytest.raises(RemoteHandleError, match="names the remote handle"):
        keras.models.load_model(tmp_path / "remote.keras")  # a model file does not get to download models
    with allowing_remote_handles():  # positive control
        np.testing.assert_allclose(keras.models.load_model(tmp_path / "remote.keras")(tf.constant(TEXTS)), want, atol=1e-6)


# ---------------------------------------------------------------- refusals: TF1 Hub modules, the scan, callables


def test_tf1_hub_module_is_refused_naming_what_to_use(saved, tmp_path):
    module_dir = tmp_path / "tf1_module"
    tf.saved_model.save(_Ids(), str(module_dir))
    # TF1 hub's ModuleDef proto {format: FORMAT_V3} (field 1, value 3); tensorflow_hub 0.16 no longer ships its class.
    (module_dir / "tfhub_module.pb").write_bytes(b"\x08\x03")
    with pytest.raises(HandleError, match=r"TF1 Hub-format module \(hub.Module.*tfhub_module.pb.*TF2 SavedModel version"):
        KerasLayer(str(module_dir))


def test_every_string_handle_is_scanned_and_trust_bypasses_it(tmp_path):
    target = tmp_path / "written.txt"
    refused = save_hand_made_encoder(str(tmp_path / "writes_file"), writes_file(str(target)))
    with pytest.raises(UntrustedModelError, match="WriteFile"):
        KerasLayer(refused)
    layer = KerasLayer(refused, trust=True, output_key="pooled_output")  # the caller vouches for it
    ids = tf.constant([[1, 2, 0]])
    layer({"input_word_ids": ids, "input_mask": tf.ones_like(ids), "input_type_ids": tf.zeros_like(ids)})
    assert target.exists()  # positive control: the refused model really does what the scan found
    assert "trust" not in layer.get_config()


def test_callable_handle_is_not_reloaded_and_refuses_config_and_load_arguments(saved):
    module = handles.load(saved["nnlm"])
    layer = KerasLayer(module, trainable=True)
    assert layer.resolved_object is module and len(layer.trainable_weights) == 1
    with pytest.raises(UnserializableHandleError, match="cannot be saved in a config"):
        layer.get_config()
    with pytest.raises(InvalidArgumentError, match="load_options= are for loading a string handle"):
        KerasLayer(module, load_options=tf.saved_model.LoadOptions())


def test_load_options_tags_and_output_shape_reach_the_layer(saved, monkeypatch):
    calls = []
    real_load = handles.tensorflow_hub.load

    def recording_load(path, **kwargs):
        calls.append(kwargs)
        return real_load(path, **kwargs)

    monkeypatch.setattr(handles.tensorflow_hub, "load", recording_load)
    options = tf.saved_model.LoadOptions(allow_partial_checkpoint=True)
    layer = KerasLayer(saved["nnlm"], load_options=options, tags=["serve"], output_shape=[4], input_shape=[],
                       dtype=tf.string)
    assert calls == [{"tags": ["serve"], "options": options}]
    assert layer.get_config()["output_shape"] == [4] and layer.get_config()["input_shape"] == []
    assert keras.Sequential([layer, keras.layers.Dense(1)]).layers[0].output.shape == (None, 4)

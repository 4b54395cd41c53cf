"""Text-embedding exports and HubTextEmbedding: the TF-Hub SavedModel (hub.load, hub.KerasLayer under tf-keras,
published and loaded over http), the TF Serving export, and the Keras 3 layer on our export and on USE-like modules."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm import (
    HandleError,
    HubEncoder,
    HubTextEmbedding,
    TextEmbedder,
    UntrustedModelError,
    check_serving,
    describe,
    export_for_serving,
    export_text_embedding,
    publish,
)
from tfhub_llm.errors import InvalidArgumentTypeError
from tfhub_llm.hub import handles
from tfhub_llm.hub.describe import format_text
from tfhub_llm.hub.trust import RemoteHandleError, allowing_remote_handles
from tfhub_llm.hub_contract import TEXT_EMBEDDING, interface_kind
from tfhub_llm.tf_serving.export import read_warmup_requests

TEXTS = ["A man is playing a flute.", "", "Héllo 東京 😀", "a much longer sentence " * 10]


@pytest.fixture(scope="module")
def embedder():
    return TextEmbedder(HubEncoder(TINY_ENCODER, trainable=True, micro_batches=1), TINY_PREPROCESSOR)


@pytest.fixture(scope="module")
def exported(embedder, tmp_path_factory):
    return export_text_embedding(embedder, tmp_path_factory.mktemp("export") / "text_embedding")


class _HashingEmbedding(tf.Module):
    """A USE-like text embedding: lower-cased words hashed into buckets, their vectors averaged."""

    def __init__(self, buckets=64, dimension=8):
        super().__init__()
        self.buckets = buckets
        self.table = tf.Variable(tf.random.stateless_normal([buckets, dimension], seed=[1, 2]), name="table")

    def embed(self, texts):
        words = tf.strings.split(tf.strings.lower(texts)).to_tensor(default_value="")
        present = tf.cast(words != "", tf.float32)[..., None]
        vectors = tf.gather(self.table, tf.strings.to_hash_bucket_fast(words, self.buckets)) * present
        return tf.reduce_sum(vectors, axis=1) / tf.maximum(tf.reduce_sum(present, axis=1), 1.0)


class _WithoutTraining(_HashingEmbedding):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        return self.embed(texts)


class _WithTraining(_HashingEmbedding):
    @tf.function
    def __call__(self, texts, training=False):
        return self.embed(texts) * (0.5 if training else 1.0)  # visibly different in training mode


class _RaggedMean(_HashingEmbedding):
    """The same, averaged over ragged rows (UnsortedSegmentSum: pure computation, allowed)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        words = tf.strings.split(tf.strings.lower(texts))
        return tf.reduce_mean(tf.gather(self.table, tf.strings.to_hash_bucket_fast(words, self.buckets)), axis=1)


class _WritesTexts(_RaggedMean):
    """The same, but it also writes every batch it embeds to a file: WriteFile, refused by the scan."""

    def __init__(self, target="embedded.txt"):
        super().__init__()
        self.target = target

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        tf.io.write_file(self.target, tf.strings.reduce_join(texts, separator="\n"))
        words = tf.strings.split(tf.strings.lower(texts))
        return tf.reduce_mean(tf.gather(self.table, tf.strings.to_hash_bucket_fast(words, self.buckets)), axis=1)


def _save_use_like(module_class, path):
    module = module_class()
    if module_class is _WithTraining:
        for training in (False, True):
            module.__call__.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
    tf.saved_model.save(module, str(path))
    return module


def test_export_has_the_text_embedding_interface(embedder, exported):
    module = handles.load(exported)  # passes the op scan
    assert interface_kind(module) == TEXT_EMBEDDING
    vectors = module(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(vectors, embedder.embed(TEXTS), atol=1e-5)
    np.testing.assert_allclose(module(tf.constant(TEXTS), training=False).numpy(), vectors, atol=1e-6)
    assert module(tf.constant(TEXTS), training=True).shape == (4, 32)
    assert len(module.trainable_variables) == len(embedder.trainable_weights) > 0
    assert len(module.variables) == len(embedder.weights) and list(module.regularization_losses) == []
    signature = module.signatures["serving_default"](text=tf.constant(TEXTS[:2]))
    np.testing.assert_allclose(signature["embedding"].numpy(), vectors[:2], atol=1e-5)
    description = describe(exported)
    assert description["kind"] == TEXT_EMBEDDING
    assert "  kind          text embedding\n" in format_text(description)  # not "BERT text embedding"


def test_export_holds_fine_tuned_weights_and_refuses_what_it_cannot_export(embedder, tmp_path):
    model = TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR)
    model.encoder.weights[0].assign(model.encoder.weights[0] * 2.0)
    module = handles.load(export_text_embedding(model, tmp_path / "changed"))
    np.testing.assert_allclose(module(tf.constant(TEXTS)).numpy(), model.embed(TEXTS), atol=1e-5)
    with pytest.raises(FileExistsError, match="already exists"):
        export_text_embedding(model, tmp_path / "changed")
    with pytest.raises(InvalidArgumentTypeError, match=r"takes a TextEmbedder \(.*\), got HubEncoder"):
        export_text_embedding(model.encoder, tmp_path / "encoder")
    assert not (tmp_path / "encoder").exists()


def test_hub_text_embedding_on_our_export_trains_and_round_trips(embedder, exported, tmp_path):
    text = keras.Input(shape=(), dtype="string")
    layer = HubTextEmbedding(str(exported), trainable=True, trust=True)
    assert "trust" not in layer.get_config()  # trust never travels in a file
    model = keras.Model(text, keras.layers.Dense(1)(layer(text)))
    np.testing.assert_allclose(np.asarray(layer(tf.constant(TEXTS))), embedder.embed(TEXTS), atol=1e-5)
    assert len(layer.trainable_weights) == len(embedder.trainable_weights)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    before = np.asarray(layer(tf.constant(TEXTS)))
    model.fit(np.array(TEXTS, dtype=object), np.array([1.0, -1.0, 1.0, -1.0]), batch_size=4, epochs=1, verbose=0)
    after = np.asarray(layer(tf.constant(TEXTS)))
    assert not np.allclose(after, before, atol=1e-4)  # fit trained the SavedModel's variables
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(np.asarray(loaded.layers[1](tf.constant(TEXTS))), after, atol=1e-5)


@pytest.mark.parametrize("module_class", [_WithoutTraining, _WithTraining])
def test_hub_text_embedding_on_use_like_modules(module_class, tmp_path):
    original = _save_use_like(module_class, tmp_path / "use_like")
    layer = HubTextEmbedding(str(tmp_path / "use_like"))
    want = original.embed(tf.constant(TEXTS)).numpy()
    np.testing.assert_allclose(np.asarray(layer(tf.constant(TEXTS))), want, atol=1e-6)
    in_training = np.asarray(layer(tf.constant(TEXTS), training=True))
    np.testing.assert_allclose(in_training, want * (0.5 if module_class is _WithTraining else 1.0), atol=1e-6)
    assert len(layer.weights) == 1 and not layer.trainable_weights  # trainable=False by default
    sequential = keras.Sequential([keras.Input(shape=(), dtype="string"), layer, keras.layers.Dense(2)])
    assert sequential(tf.constant(TEXTS)).shape == (4, 2)
    assert interface_kind(handles.load(tmp_path / "use_like")) == TEXT_EMBEDDING


def test_hub_text_embedding_scans_before_loading(tmp_path):
    assert HubTextEmbedding(str(_saved(_RaggedMean(), tmp_path / "ragged")))(tf.constant(["a b", "c"])).shape == (2, 8)
    target = tmp_path / "leak.txt"
    writer = _saved(_WritesTexts(str(target)), tmp_path / "writer")
    with pytest.raises(UntrustedModelError, match="WriteFile"):
        HubTextEmbedding(str(writer))
    assert not target.exists()
    HubTextEmbedding(str(writer), trust=True)(tf.constant(["a b", "c"]))  # the positive control: it writes
    assert target.read_text() == "a b\nc"


def _saved(module, path):
    tf.saved_model.save(module, str(path))
    return path


def test_hub_text_embedding_refuses_an_encoder(tmp_path):
    with pytest.raises(HandleError, match="is not a TF-Hub text embedding: its __call__ does not take a 1-D string"):
        HubTextEmbedding(TINY_ENCODER)


def test_published_export_loads_over_http(embedder, exported, tmp_path, serve_directory, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    published = publish(exported, tmp_path / "hub", "tiny-embedder", 1)
    card = published.model_card.read_text()
    assert "A TF-Hub text embedding" in card and "input_shape=[], dtype=tf.string" in card
    assert "HubTextEmbedding(" in card
    url = f"{serve_directory(tmp_path / 'hub')}/tiny-embedder/1"
    want = embedder.embed(TEXTS)
    np.testing.assert_allclose(handles.load(url)(tf.constant(TEXTS)).numpy(), want, atol=1e-5)
    layer = HubTextEmbedding(url)
    np.testing.assert_allclose(np.asarray(layer(tf.constant(TEXTS))), want, atol=1e-5)
    keras.Sequential([keras.Input(shape=(), dtype="string"), layer]).save(tmp_path / "remote.keras")
    with pytest.raises(RemoteHandleError, match="names the remote handle"):
        keras.models.load_model(tmp_path / "remote.keras")  # a model file does not get to download models
    with allowing_remote_handles():  # positive control
        np.testing.assert_allclose(keras.models.load_model(tmp_path / "remote.keras").predict(
            np.array(TEXTS, dtype=object), verbose=0), want, atol=1e-5)


def test_serving_export_text_to_embedding(embedder, tmp_path):
    version_dir = export_for_serving(embedder, tmp_path / "serving")
    assert len(read_warmup_requests(os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests"))) == 4
    served = tf.saved_model.load(version_dir).signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(served["embedding"].numpy(), embedder.embed(TEXTS), atol=1e-5)
    report = check_serving(version_dir, tf_serving_version="2.19")
    assert report.ok, report.format()


_TF_KERAS_SCRIPT = """
import json, sys
import numpy as np, tensorflow as tf, tensorflow_hub as hub, tensorflow_text
handle, texts, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
assert tf.keras.__name__.startswith("tf_keras"), tf.keras.__name__
layer = hub.KerasLayer(handle, input_shape=[], dtype=tf.string, trainable=True)
model = tf.keras.Sequential([layer, tf.keras.layers.Dense(1)])
vectors = layer(tf.constant(texts)).numpy()
model.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="mse")
model.fit(tf.constant(texts), tf.constant([1.0, -1.0, 1.0, -1.0]), epochs=1, verbose=0)
np.savez(out, vectors=vectors, after=layer(tf.constant(texts)).numpy(), trainable=len(layer.trainable_weights))
"""


@pytest.mark.slow  # a fresh TensorFlow process under tf-keras
def test_export_works_in_hub_keras_layer_under_tf_keras(embedder, exported, tmp_path):
    out = tmp_path / "tf_keras.npz"
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _TF_KERAS_SCRIPT, str(exported), json.dumps(TEXTS), str(out)],
                   env=env, check=True, timeout=300)
    result = np.load(out)
    np.testing.assert_allclose(result["vectors"], embedder.embed(TEXTS), atol=1e-5)
    assert int(result["trainable"]) == len(embedder.trainable_weights)
    assert not np.allclose(result["after"], result["vectors"], atol=1e-4)  # tf-keras fit trained it

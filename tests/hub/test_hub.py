"""Handle resolution through tensorflow_hub, and the errors that name the handle."""

import hashlib
import os
import pathlib
import tarfile

import pytest
import tensorflow as tf

from tests.harness import FIXTURE_ENCODER, FIXTURE_PREPROCESSOR
from tfhub_llm.hub import handles as hub
from tfhub_llm.hub.resolved_handle import ResolvedHandle
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    return cache


def compressed(saved_model_dir, archive):
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name in sorted(os.listdir(saved_model_dir)):
            tar.add(os.path.join(saved_model_dir, name), arcname=name)


def test_local_directory_and_file_url():
    assert hub.resolve(FIXTURE_ENCODER).path == FIXTURE_ENCODER
    assert hub.resolve("file://" + FIXTURE_ENCODER).path == FIXTURE_ENCODER


def test_a_handle_is_resolved_once_into_one_value():
    resolved = hub.resolve(pathlib.Path(FIXTURE_ENCODER))
    assert resolved == ResolvedHandle(FIXTURE_ENCODER, FIXTURE_ENCODER, remote=False)
    assert hub.resolve(resolved) is resolved  # a resolved handle is passed on, never resolved again
    assert hub.resolve("file://" + FIXTURE_ENCODER).handle == "file://" + FIXTURE_ENCODER


def test_http_handle_resolves_through_tensorflow_hub_cache(tmp_path, cache_dir, serve_directory):
    compressed(FIXTURE_ENCODER, tmp_path / "hub" / "bert-tiny" / "1")
    handle = serve_directory(tmp_path / "hub") + "/bert-tiny/1"
    resolved = hub.resolve(handle)
    assert resolved.remote and resolved.handle == handle
    path = resolved.path
    assert os.path.dirname(path) == str(cache_dir)
    assert os.path.basename(path) == hashlib.sha1(handle.encode()).hexdigest()
    encoder = HubEncoder(handle)
    assert len(encoder.weights) == len(HubEncoder(FIXTURE_ENCODER).weights)


def test_missing_path_names_the_handle(tmp_path):
    with pytest.raises(hub.HandleError, match=r"nowhere.*does not exist"):
        HubEncoder(str(tmp_path / "nowhere"))


def test_a_windows_drive_path_is_local_not_a_url_scheme():
    # The same parser decides trust by folder, so a path must never be taken for a remote handle here.
    with pytest.raises(hub.HandleError, match=r"C:/models/bert.*does not exist"):
        hub.resolve("C:/models/bert")


def test_directory_without_saved_model(tmp_path):
    with pytest.raises(hub.HandleError, match="not a SavedModel directory"):
        hub.resolve(str(tmp_path))


def test_unreachable_server_suggests_offline_options(cache_dir):
    with pytest.raises(hub.HandleError, match=r"127\.0\.0\.1:9/m/1.*local SavedModel.*TFHUB_CACHE_DIR"):
        hub.resolve("http://127.0.0.1:9/m/1")


def test_corrupt_cache_directory_is_named(cache_dir):
    handle = "http://127.0.0.1:9/corrupt/1"
    cached = cache_dir / hashlib.sha1(handle.encode()).hexdigest()
    os.makedirs(cached / "variables")  # a download cut short: no saved_model.pb
    with pytest.raises(hub.HandleError, match="empty or corrupt.*delete that directory"):
        hub.resolve(handle)


def test_preprocessor_is_not_an_encoder_and_vice_versa():
    with pytest.raises(hub.HandleError, match=r"not a TF-Hub BERT encoder: its __call__ does not take a dict"):
        HubEncoder(FIXTURE_PREPROCESSOR)
    with pytest.raises(hub.HandleError, match=r"not a TF-Hub BERT preprocessor: .*tokenize"):
        HubPreprocessor(FIXTURE_ENCODER)


def test_savedmodel_without_call_is_refused(tmp_path):
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path))
    with pytest.raises(hub.HandleError, match="no restored __call__"):
        hub.load_encoder(str(tmp_path))

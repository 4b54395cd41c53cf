"""export_to_hub and publish: fine-tuned weights in Reusable SavedModels, hub archives served over
loopback HTTP to hub.load / HubEncoder / hub.KerasLayer (tf-keras), model cards, Kaggle metadata and upload."""

import filecmp
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import textwrap
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR, assert_ordinary_modes
from tfhub_llm import publishing as export_hub
from tensorflow.core.protobuf import saved_model_pb2

from tfhub_llm.hub import archive, handles, security, staging
from tfhub_llm.hub.describe import describe
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer

TEXTS = tf.constant(["a great film", "dull and slow", "wonderful acting", "a waste of time"] * 2)
LABELS = np.array([1, 0, 1, 0] * 2)
KAGGLE = "someone/tiny-sst2/tensorFlow2/default"
CARD = export_hub.ModelCard(
    summary="A tiny BERT encoder fine-tuned on four sentences. For tests only.",
    training_data=["SST-2 (8 phrases)"],
    evaluation={"accuracy (train)": 1.0},
    limitations="Random weights: useless beyond tests.",
    base_model=TINY_ENCODER,
)


def _assert_close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def fine_tuned():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2)
    model.compile(learning_rate=1e-2)
    model.fit(TEXTS, LABELS, epochs=2, batch_size=4, verbose=0)
    return model


@pytest.fixture(scope="module")
def encoder_inputs(fine_tuned):
    return {key: value.numpy() for key, value in fine_tuned.preprocessor(TEXTS).items()}


@pytest.fixture(scope="module")
def exported(fine_tuned, tmp_path_factory):
    return export_hub.export_to_hub(fine_tuned, tmp_path_factory.mktemp("export") / "tiny")


@pytest.fixture(scope="module")
def hub_dir(exported, tmp_path_factory):
    hub_dir = tmp_path_factory.mktemp("hub")
    export_hub.publish(exported / "encoder", hub_dir, "tiny-encoder", 1, model_card=CARD)
    export_hub.publish(exported / "preprocessor", hub_dir, "tiny-preprocessor", 1)
    return hub_dir


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "tfhub_cache"
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    return cache


# ---------------------------------------------------------------- export_to_hub


def test_exported_encoder_holds_the_fine_tuned_weights_and_the_interface(fine_tuned, encoder_inputs, exported):
    restored = tf.saved_model.load(str(exported / "encoder"))
    expected = fine_tuned.encoder(encoder_inputs)
    outputs = restored(encoder_inputs, training=False)
    for key in ("pooled_output", "sequence_output", "default"):
        _assert_close(outputs[key], expected[key])
    original = tf.saved_model.load(TINY_ENCODER)(encoder_inputs, training=False)["pooled_output"]
    assert np.abs(outputs["pooled_output"].numpy() - original.numpy()).max() > 1e-2
    assert len(outputs["encoder_outputs"]) == 2
    assert not np.allclose(restored(encoder_inputs, training=True)["sequence_output"], outputs["sequence_output"])
    signature = restored.signatures["serving_default"](**{k: tf.constant(v) for k, v in encoder_inputs.items()})
    _assert_close(signature["pooled_output"], expected["pooled_output"])
    source = fine_tuned.encoder.module
    assert len(restored.variables) == len(source.variables)
    assert len(restored.trainable_variables) == len(source.trainable_variables)
    assert list(restored.regularization_losses) == []
    assert bool(restored.do_lower_case.numpy()) is True
    vocab = restored.vocab_file.asset_path.numpy().decode()
    assert vocab.startswith(str(exported / "encoder" / "assets"))
    with open(vocab) as f, open(fine_tuned.encoder.vocab_file) as g:
        assert f.read() == g.read()


def test_mlm_sub_object_survives_the_export_with_fine_tuned_weights(fine_tuned, encoder_inputs, exported):
    positions = np.array([[1, 2]] * len(TEXTS), dtype="int32")
    restored = tf.saved_model.load(str(exported / "encoder"))
    logits = restored.mlm({**encoder_inputs, "masked_lm_positions": positions}, training=False)["mlm_logits"]
    assert logits.shape == (len(TEXTS), 2, 30522)
    _assert_close(logits, fine_tuned.encoder.mlm_logits(encoder_inputs, positions))


def test_exported_preprocessor_is_the_loaded_one(fine_tuned, exported):
    restored = tf.saved_model.load(str(exported / "preprocessor"))
    source = fine_tuned.preprocessor.module
    for key, value in source(TEXTS).items():
        np.testing.assert_array_equal(restored(TEXTS)[key], value)
    pairs = [restored.tokenize(TEXTS), restored.tokenize(tf.reverse(TEXTS, [0]))]
    packed = restored.bert_pack_inputs(pairs, seq_length=tf.constant(16))
    np.testing.assert_array_equal(packed["input_type_ids"], fine_tuned.preprocessor.bert_pack_inputs(pairs, 16)["input_type_ids"])
    assert int(restored.tokenize.get_special_tokens_dict()["vocab_size"]) == 30522
    assert "serving_default" in restored.signatures
    source_pb = os.path.join(TINY_PREPROCESSOR, "saved_model.pb")
    assert filecmp.cmp(exported / "preprocessor" / "saved_model.pb", source_pb, shallow=False)


def test_export_refuses_a_non_empty_folder_and_takes_an_empty_one(fine_tuned, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="busy"):
        export_hub.export_to_hub(fine_tuned, busy)
    assert os.listdir(busy) == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    export_hub.export_to_hub(fine_tuned.encoder, empty, preprocessor=False)
    assert os.listdir(empty) == ["encoder"]
    assert sorted(os.listdir(tmp_path)) == ["busy", "empty"]  # no temporary siblings left behind


def test_export_refuses_what_it_cannot_export(fine_tuned, tmp_path):
    with pytest.raises(ValueError, match="preprocessor=False"):
        export_hub.export_to_hub(fine_tuned.encoder, tmp_path / "a")
    with pytest.raises(TypeError, match="HubEncoder"):
        export_hub.export_to_hub(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "b")
    with pytest.raises(TypeError, match="preprocessor must be"):
        export_hub.export_to_hub(fine_tuned, tmp_path / "c", preprocessor="yes")
    assert os.listdir(tmp_path) == []


def test_export_of_a_model_loaded_from_a_keras_file_holds_its_trained_weights(fine_tuned, encoder_inputs, tmp_path):
    fine_tuned.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    export_hub.export_to_hub(loaded, tmp_path / "out", preprocessor=False)
    restored = tf.saved_model.load(str(tmp_path / "out" / "encoder"))
    _assert_close(restored(encoder_inputs)["pooled_output"], fine_tuned.encoder(encoder_inputs)["pooled_output"])


def test_export_of_a_question_answerer_writes_its_encoder_and_preprocessor(encoder_inputs, tmp_path):
    model = SpanQuestionAnswerer(TINY_ENCODER, TINY_PREPROCESSOR)
    model.encoder.module.variables[0].assign_add(tf.ones_like(model.encoder.module.variables[0]))
    export_hub.export_to_hub(model, tmp_path / "qa")
    assert sorted(os.listdir(tmp_path / "qa")) == ["encoder", "preprocessor"]
    restored = tf.saved_model.load(str(tmp_path / "qa" / "encoder"))
    _assert_close(restored(encoder_inputs)["sequence_output"], model.encoder(encoder_inputs)["sequence_output"])


def test_an_encoder_without_signatures_gets_a_serving_default(encoder_inputs, tmp_path):
    bare = tmp_path / "bare"
    tf.saved_model.save(tf.saved_model.load(TINY_ENCODER), str(bare), signatures={})
    assert not tf.saved_model.load(str(bare)).signatures
    export_hub.export_to_hub(HubEncoder(str(bare)), tmp_path / "out", preprocessor=False)
    restored = tf.saved_model.load(str(tmp_path / "out" / "encoder"))
    signature = restored.signatures["serving_default"](**{k: tf.constant(v) for k, v in encoder_inputs.items()})
    expected = restored(encoder_inputs, training=False)
    assert set(signature) == {"default", "pooled_output", "sequence_output", "encoder_outputs_0", "encoder_outputs_1"}
    _assert_close(signature["sequence_output"], expected["sequence_output"])
    _assert_close(signature["encoder_outputs_1"], expected["encoder_outputs"][1])


# ---------------------------------------------------------------- publish and load over HTTP


def test_published_pair_loads_over_http_with_hub_load_and_the_hub_layers(
        fine_tuned, encoder_inputs, hub_dir, serve_directory, hub_cache):
    base = serve_directory(hub_dir)
    expected = fine_tuned.encoder(encoder_inputs)["pooled_output"]
    handle = f"{base}/tiny-encoder/1"
    module = tensorflow_hub.load(handle)
    _assert_close(module(encoder_inputs, training=False)["pooled_output"], expected)
    assert hasattr(module, "mlm")
    assert (hub_cache / hashlib.sha1(handle.encode()).hexdigest() / "saved_model.pb").is_file()
    encoder = HubEncoder(f"{base}/tiny-encoder/1")
    preprocessor = HubPreprocessor(f"{base}/tiny-preprocessor/1", pad_to_longest=True)
    _assert_close(encoder(preprocessor(TEXTS))["pooled_output"], expected)


@pytest.mark.slow
def test_published_encoder_works_in_hub_keras_layer_under_tf_keras(
        fine_tuned, encoder_inputs, hub_dir, serve_directory, tmp_path):
    """tensorflow_hub's own resolver (tfhub_llm is not imported there) and hub.KerasLayer in a tf-keras model."""
    base = serve_directory(hub_dir)
    np.savez(tmp_path / "inputs.npz", **encoder_inputs)
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf, tensorflow_hub as hub, tf_keras
        inputs = dict(np.load({str(tmp_path / 'inputs.npz')!r}))
        layer = hub.KerasLayer({base + '/tiny-encoder/1'!r}, trainable=True)
        keras_inputs = {{key: tf_keras.Input(shape=(None,), dtype=tf.int32, name=key) for key in inputs}}
        model = tf_keras.Model(keras_inputs, layer(keras_inputs)["pooled_output"])
        assert layer.trainable_weights, "the published encoder exposes no trainable variables"
        np.save({str(tmp_path / 'pooled.npy')!r}, model.predict(inputs, verbose=0))
    """)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "TFHUB_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    _assert_close(np.load(tmp_path / "pooled.npy"), fine_tuned.encoder(encoder_inputs)["pooled_output"])


def test_published_files_archive_checksum_card_and_metadata(hub_dir):
    model_dir = hub_dir / "tiny-encoder"
    assert sorted(os.listdir(model_dir)) == sorted(
        ["1", "1.sha256", "1.md", "README.md", "model-metadata.json", "model-instance-metadata.json"])
    assert archive.verify_sha256(model_dir / "1")
    with open(model_dir / "1.sha256") as f:
        assert f.read() == f"{archive.file_sha256(model_dir / '1')}  1\n"
    with tarfile.open(model_dir / "1") as tar:
        members = tar.getmembers()
    assert "saved_model.pb" in [m.name for m in members] and "assets/vocab.txt" in [m.name for m in members]
    assert all((m.isfile() or m.isdir()) and m.uid == 0 and m.gid == 0 for m in members)
    assert_ordinary_modes(*(model_dir / name for name in os.listdir(model_dir)))  # readable by a web server


def test_model_card_describes_usage_interface_data_evaluation_limitations(hub_dir):
    card = (hub_dir / "tiny-encoder" / "README.md").read_text()
    assert card == (hub_dir / "tiny-encoder" / "1.md").read_text()
    assert card.startswith("# tiny-encoder (version 1)\n\nA tiny BERT encoder fine-tuned on four sentences.")
    for expected in (
        'hub.load("http://HOST/tiny-encoder/1")',
        'HubEncoder("http://HOST/tiny-encoder/1", trainable=True)',
        "(inputs={input_mask: int32 [?, ?], input_type_ids: int32 [?, ?], input_word_ids: int32 [?, ?]}, training=False)",
        "pooled_output: float32 [?, 32]",
        "encoder_outputs: [2 × float32 [?, ?, 32]]",
        "training=False",
        "training=True",
        "- `mlm`:",
        "masked_lm_positions: int32 [?, ?]",
        "mlm_logits: float32 [?, ?, 30522]",
        "signature `serving_default`",
        "`vocab_file` asset: `vocab.txt` (30,522 tokens)",
        "`do_lower_case`: True",
        "- SST-2 (8 phrases)",
        "| accuracy (train) | 1.0 |",
        "Random weights: useless beyond tests.",
        f"Fine-tuned from: `{TINY_ENCODER}`",
    ):
        assert expected in card, expected
    preprocessor_card = (hub_dir / "tiny-preprocessor" / "README.md").read_text()
    assert "HubPreprocessor" in preprocessor_card and "- `tokenize`:" in preprocessor_card
    assert "(segments=[2 × ragged int32 [?, ?]], seq_length=int32 [])" in preprocessor_card and "No evaluation figures" in preprocessor_card


def test_describe_interface_counts_variables_and_parameters(exported, fine_tuned):
    interface = describe(exported / "encoder")
    variables = fine_tuned.encoder.module.variables
    assert interface["kind"] == "encoder"
    assert interface["variables"] == len(variables)
    assert interface["parameters"] == sum(int(np.prod(v.shape)) for v in variables if v.dtype.is_floating)
    assert set(interface["functions"]) == {"__call__", "mlm"}
    assert describe(exported / "preprocessor")["kind"] == "preprocessor"


def test_kaggle_metadata_without_and_with_a_kaggle_handle(hub_dir, exported, tmp_path):
    model = json.loads((hub_dir / "tiny-encoder" / "model-metadata.json").read_text())
    instance = json.loads((hub_dir / "tiny-encoder" / "model-instance-metadata.json").read_text())
    assert model["ownerSlug"] == "" and model["slug"] == "tiny-encoder" and model["title"] == "tiny-encoder"
    assert model["description"] == (hub_dir / "tiny-encoder" / "README.md").read_text()
    assert model["licenseName"] == "Apache 2.0" and model["isPrivate"] is True
    assert instance["modelSlug"] == "tiny-encoder" and instance["instanceSlug"] == "default"
    assert instance["framework"] == "tensorFlow2" and instance["fineTunable"] is True
    assert instance["trainingData"] == ["SST-2 (8 phrases)"] and instance["overview"] == CARD.summary
    assert 'hub.load("http://HOST/tiny-encoder/1")' in instance["usage"]
    interface = describe(exported / "encoder")
    card_text = export_hub.render_model_card("tiny_SST2.v1", 1, interface, CARD, kaggle=KAGGLE)
    model, instance = export_hub.kaggle_metadata("tiny_SST2.v1", 1, interface, CARD, card_text, kaggle=KAGGLE)
    assert (model["ownerSlug"], model["slug"]) == ("someone", "tiny-sst2")
    assert (instance["ownerSlug"], instance["modelSlug"], instance["instanceSlug"]) == ("someone", "tiny-sst2", "default")
    assert f'kagglehub.model_download("{KAGGLE}")' in card_text
    model, _ = export_hub.kaggle_metadata("tiny_SST2.v1", 1, interface, CARD, card_text)
    assert model["slug"] == "tiny-sst2-v1"


# ---------------------------------------------------------------- refusals


def test_publishing_the_same_version_twice_is_refused(exported, hub_dir):
    before = {name: (hub_dir / "tiny-encoder" / name).read_bytes() for name in os.listdir(hub_dir / "tiny-encoder")}
    with pytest.raises(archive.ArchiveExistsError, match="immutable"):
        export_hub.publish(exported / "encoder", hub_dir, "tiny-encoder", 1, model_card=export_hub.ModelCard(summary="other"))
    after = {name: (hub_dir / "tiny-encoder" / name).read_bytes() for name in os.listdir(hub_dir / "tiny-encoder")}
    assert after == before


def test_readme_and_metadata_follow_the_newest_version(exported, tmp_path):
    export_hub.publish(exported / "preprocessor", tmp_path, "pre", 3, model_card=export_hub.ModelCard(summary="three"))
    export_hub.publish(exported / "preprocessor", tmp_path, "pre", "2", model_card=export_hub.ModelCard(summary="two"))
    assert "three" in (tmp_path / "pre" / "README.md").read_text()
    assert "two" in (tmp_path / "pre" / "2.md").read_text()
    assert sorted(os.listdir(tmp_path / "pre")) == sorted(
        ["2", "2.sha256", "2.md", "3", "3.sha256", "3.md", "README.md", "model-metadata.json", "model-instance-metadata.json"])


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "", ".hidden", "-x", "x" * 200, None])
def test_bad_names_are_refused(exported, tmp_path, name):
    with pytest.raises(ValueError, match="Model name"):
        export_hub.publish(exported / "encoder", tmp_path, name, 1)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("version", [0, -1, "1.0", "", "one", True, 1.5, None])
def test_bad_versions_are_refused(exported, tmp_path, version):
    with pytest.raises(ValueError, match="positive integer"):
        export_hub.publish(exported / "encoder", tmp_path, "m", version)
    assert os.listdir(tmp_path) == []


def test_publishing_a_folder_that_is_no_saved_model_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no saved_model.pb"):
        export_hub.publish(tmp_path / "empty", tmp_path / "hub", "m", 1)
    assert not (tmp_path / "hub").exists()


def test_publishing_a_remote_handle_is_refused(exported, tmp_path, serve_directory, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    export_hub.publish(exported / "preprocessor", tmp_path / "hub", "pre", 1)
    handle = serve_directory(tmp_path / "hub") + "/pre/1"
    with pytest.raises(ValueError, match=r"local SavedModel folder, not the remote handle 'http://.*/pre/1'"):
        export_hub.publish(handle, tmp_path / "out", "m", 1)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- Kaggle upload


@pytest.mark.parametrize("handle", ["someone/model", "someone/model/pyTorch/default", "a/b/tensorFlow2/c/d", "x y/m/tensorFlow2/v"])
def test_bad_kaggle_handles_are_refused_before_writing(exported, tmp_path, handle):
    with pytest.raises(ValueError, match="Kaggle handle"):
        export_hub.publish(exported / "encoder", tmp_path, "m", 1, kaggle=handle)
    assert os.listdir(tmp_path) == []


def test_missing_kagglehub_fails_clearly_before_writing(exported, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(export_hub.KaggleUploadError, match="pip install kagglehub"):
        export_hub.publish(exported / "encoder", tmp_path, "m", 1, kaggle=KAGGLE)
    assert os.listdir(tmp_path) == []


def _fake_kagglehub(monkeypatch, model_upload):
    module = types.ModuleType("kagglehub")
    module.model_upload = model_upload
    monkeypatch.setitem(sys.modules, "kagglehub", module)


def test_offline_kaggle_upload_fails_clearly_and_keeps_the_local_version(exported, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Failed to establish a new connection: [Errno -3] Temporary failure in name resolution")

    _fake_kagglehub(monkeypatch, offline)
    with pytest.raises(export_hub.KaggleUploadError, match="offline") as caught:
        export_hub.publish(exported / "encoder", tmp_path, "m", 1, kaggle=KAGGLE)
    assert KAGGLE in str(caught.value) and "published locally" in str(caught.value)
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert archive.verify_sha256(tmp_path / "m" / "1")


def test_kaggle_upload_hands_the_scanned_snapshot_to_kagglehub(exported, tmp_path, monkeypatch):
    calls = []

    def upload(handle, folder, **kwargs):
        calls.append((handle, kwargs))
        assert folder != str(exported / "encoder")
        with tarfile.open(tmp_path / "m" / "1") as tar:  # the upload holds what the archive holds
            assert _tree_bytes(folder) == {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        uploaded.append(folder)

    uploaded = []
    _fake_kagglehub(monkeypatch, upload)
    published = export_hub.publish(exported / "encoder", tmp_path, "m", 1, model_card=CARD, kaggle=KAGGLE)
    assert published.kaggle_handle == KAGGLE
    assert calls == [(KAGGLE, {"license_name": "Apache 2.0", "version_notes": "m version 1"})]
    assert not os.path.exists(uploaded[0])
    metadata = json.loads((tmp_path / "m" / "model-instance-metadata.json").read_text())
    assert (metadata["ownerSlug"], metadata["modelSlug"]) == ("someone", "tiny-sst2")


# ---------------------------------------------------------------- what is published is what was scanned


def _tree_bytes(folder):
    """Relative path → bytes of every file under ``folder``."""
    folder = pathlib.Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _with_denied_op(pb_bytes, op="WriteFile"):
    """``saved_model.pb`` bytes with a node of the denied type ``op`` added to the first function."""
    saved_model = saved_model_pb2.SavedModel.FromString(pb_bytes)
    saved_model.meta_graphs[0].graph_def.library.function[0].node_def.add(name="injected", op=op)
    return saved_model.SerializeToString()


def _encoder_outputs(handle, trust=False):
    inputs = {"input_word_ids": tf.constant([[101, 7592, 2088, 102, 0]]), "input_mask": tf.constant([[1, 1, 1, 1, 0]]),
              "input_type_ids": tf.zeros([1, 5], tf.int32)}
    return handles.load(handle, trust=trust)(inputs, training=False)["pooled_output"].numpy()


@pytest.fixture
def tiny_copy(tmp_path):
    """A private copy of the tiny encoder, free to mutate."""
    return shutil.copytree(TINY_ENCODER, tmp_path / "model")


def _after_the_scan(monkeypatch, change):
    """Runs ``change()`` once, right after the first scan of publish returns."""
    scan = security._scan

    def scan_then_change(*args, **kwargs):
        scanned = scan(*args, **kwargs)
        if not changed:
            changed.append(change())
        return scanned

    changed = []
    monkeypatch.setattr(security, "_scan", scan_then_change)
    return changed


def test_a_swap_after_the_scan_is_not_published(tiny_copy, tmp_path, monkeypatch):
    clean = (tiny_copy / "saved_model.pb").read_bytes()

    def swap():
        (tiny_copy / "saved_model.pb").write_bytes(_with_denied_op(clean))
        data = next((tiny_copy / "variables").glob("variables.data-*"))
        data.write_bytes(bytes(len(data.read_bytes())))  # zeroed weights
        (tiny_copy / "assets" / "vocab.txt").write_text("swapped\n")
        (tiny_copy / "notes.txt").write_text("never scanned")

    changed = _after_the_scan(monkeypatch, swap)
    published = export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1, model_card=CARD)
    assert changed
    with pytest.raises(security.UntrustedModelError, match="WriteFile"):
        security.check_saved_model(tiny_copy)  # the swapped folder is refused, the archive was not
    with tarfile.open(published.archive) as tar:
        assert tar.extractfile("saved_model.pb").read() == clean
        assert "notes.txt" not in tar.getnames()
    unpacked = archive.safe_extract(published.archive, tmp_path / "unpacked")
    assert _tree_bytes(unpacked) == _tree_bytes(TINY_ENCODER)
    expected = _encoder_outputs(TINY_ENCODER, trust=True)
    _assert_close(_encoder_outputs(unpacked), expected)
    _assert_close(_encoder_outputs(unpacked, trust=True), expected)


def test_the_card_names_the_handle_and_no_snapshot_path(tiny_copy, tmp_path, monkeypatch):
    described = []

    def recording_describe(*args, **kwargs):
        described.append(describe(*args, **kwargs))
        return described[-1]

    monkeypatch.setattr(export_hub.hub_dir, "describe", recording_describe)
    published = export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1)
    card = published.model_card.read_text()
    (interface,) = described
    assert interface["handle"] == str(tiny_copy) and interface["path"] != str(tiny_copy)
    assert interface["path"] not in card and staging.process_folder() not in card
    assert "`vocab_file` asset: `vocab.txt` (30,522 tokens)" in card


def _recording_archive_writer(monkeypatch, fail=False):
    """Records the folder each archive is written from; raises OSError instead of writing when ``fail``."""
    write = archive.write_saved_model_archive
    folders = []

    def record(folder, archive_path):
        folders.append(os.fspath(folder))
        if fail:
            raise OSError("disk full")
        return write(folder, archive_path)

    monkeypatch.setattr(archive, "write_saved_model_archive", record)
    return folders


@pytest.mark.parametrize("fail", [False, True])
def test_the_snapshot_is_removed_when_publish_ends(tiny_copy, tmp_path, monkeypatch, fail):
    folders = _recording_archive_writer(monkeypatch, fail)
    if fail:
        with pytest.raises(OSError, match="disk full"):
            export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1)
        assert not (tmp_path / "hub" / "tiny" / "1").exists()
    else:
        export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1)
    (snapshot,) = folders
    assert snapshot != str(tiny_copy)
    assert os.path.commonpath([snapshot, staging.process_folder()]) == staging.process_folder()
    assert not os.path.exists(snapshot)
    assert os.path.isdir(tiny_copy)


def test_a_trusted_model_is_archived_from_its_own_folder(tiny_copy, tmp_path, monkeypatch):
    (tiny_copy / "notes.txt").write_text("the publisher's own file")
    folders = _recording_archive_writer(monkeypatch)
    published = export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1, trust=True)
    assert folders == [str(tiny_copy)]
    with tarfile.open(published.archive) as tar:
        assert tar.extractfile("notes.txt").read() == b"the publisher's own file"


@pytest.mark.parametrize("link", [os.symlink, os.link])
def test_a_link_inside_variables_of_an_untrusted_model_is_refused(tiny_copy, tmp_path, link):
    link(tiny_copy / "variables" / "variables.index", tiny_copy / "variables" / "variables.link")
    with pytest.raises(archive.UnsafeArchiveError, match=r"variables/variables\.(index|link) is a (symbolic|hard) link"):
        export_hub.publish(tiny_copy, tmp_path / "hub", "tiny", 1)
    assert not (tmp_path / "hub").exists()

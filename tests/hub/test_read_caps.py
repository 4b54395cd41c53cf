"""Issue 27: every value read outside a model's graph is capped before use, each cap with its positive control.

``.keras`` config sizes, warmup requests (read from the scanned copy), total asset bytes (sparse files
count), ``.sha256`` sidecars and downloads (a total deadline on top of the per-read timeout). Where a
regression would allocate what an attack declares, the code runs in a subprocess under ``RLIMIT_AS``.
"""

import os
import socket
import threading

import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from tests.harness import TINY_PREPROCESSOR, resolve_error_in_thread
from tests.hub.test_security_dos import _answers, _benign, _call_model, _run_limited
from tfhub_llm.errors import InvalidFileError
from tfhub_llm.hub import archive, handles, security, trust
from tfhub_llm.layers.hub_layers import HubPreprocessor
from tfhub_llm.tf_serving.check import check_serving
from tfhub_llm.tf_serving.export import WARMUP_FILE, write_warmup_requests


@pytest.fixture(autouse=True)
def no_trusted_dirs(monkeypatch):
    monkeypatch.delenv(trust.TRUSTED_DIRS_ENV, raising=False)
    monkeypatch.setattr(trust, "_trusted_directories", [])


# ---------------------------------------------------------------- .keras config values


@pytest.mark.parametrize("field, value", [("seq_length", 1 << 28), ("seq_length", 8193)])
def test_sequence_length_in_a_saved_config_is_capped_before_building(field, value):
    with pytest.raises(InvalidFileError, match=f"'{field}' is {value}.*TFHUB_LLM_MAX_SEQ_LENGTH"):
        HubPreprocessor.from_config({"handle": TINY_PREPROCESSOR, field: value})
    layer = HubPreprocessor.from_config({"handle": TINY_PREPROCESSOR, field: 16})  # positive control
    assert layer(tf.constant(["hello world"]))["input_word_ids"].shape == (1, 16)


def test_size_fields_of_task_and_encoder_configs_are_capped_at_any_depth():
    from tfhub_llm.bert.encoder import BertEncoder

    with pytest.raises(InvalidFileError, match=r"'config.vocab_size' is 268435456"):
        BertEncoder.from_config({"config": {"vocab_size": 1 << 28}})


# ---------------------------------------------------------------- warmup requests


def _serving_model(path):
    module = tf.Module()
    module.f = tf.function(lambda text: {"length": tf.strings.length(text)},
                           input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.f})
    return str(path)


def _declared_warmup(path, elements):
    """A warmup record whose input declares ``elements`` strings while storing one."""
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x"], tensor_shape=tensor_shape_pb2.
                                    TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=elements)]))
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name="serving_default"))
    request.inputs["text"].CopyFrom(tensor)
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(log.SerializeToString())


def test_warmup_requests_are_replayed_from_the_scanned_copy(tmp_path, monkeypatch):
    path = _serving_model(tmp_path / "model")
    write_warmup_requests(os.path.join(path, WARMUP_FILE), {"text": ["hello", "world!"]})
    report = check_serving(path)
    assert report.error is None and len(report.requests) == 3 and not report.failed_requests, report.format()
    real_scan = security._scan

    def scan_then_swap(*args, **kwargs):  # the warmup file changes after the scan: the copy is replayed
        scanned = real_scan(*args, **kwargs)
        _declared_warmup(os.path.join(path, WARMUP_FILE), 1 << 30)
        return scanned

    monkeypatch.setattr(security, "_scan", scan_then_swap)
    report = check_serving(path)
    assert report.error is None and len(report.requests) == 3, report.format()


def test_a_warmup_tensor_declaring_gigabytes_is_refused_before_it_is_built(tmp_path):
    path = _serving_model(tmp_path / "model")
    _declared_warmup(os.path.join(path, WARMUP_FILE), 1 << 30)
    code = (f"from tfhub_llm.tf_serving.check import check_serving\n"
            f"print(check_serving({path!r}).error)")
    result = _run_limited(code, address_space=4 << 30)
    assert "declares" in result.stdout and "warmup tensor" in result.stdout, result.stdout + result.stderr[-2000:]


# ---------------------------------------------------------------- assets


def _asset_model(path, asset_sizes):
    """A model with sparse assets of the given apparent sizes (nothing written but their lengths)."""
    module = tf.Module()
    module.files = []
    for index, size in enumerate(asset_sizes):
        name = path.parent / f"asset{index}.txt"
        with open(name, "wb") as f:
            f.truncate(size)
        module.files.append(tf.saved_model.Asset(str(name)))
    module.__call__ = tf.function(_benign, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(module, str(path))
    return str(path)


def test_total_asset_bytes_are_capped_counting_sparse_files(tmp_path, monkeypatch):
    path = _asset_model(tmp_path / "model", [600 << 10, 600 << 10])
    monkeypatch.setenv("TFHUB_LLM_MAX_ASSET_MIB", "1")
    with pytest.raises(security.UntrustedModelError, match="TFHUB_LLM_MAX_ASSET_MIB"):
        security.check_saved_model(path)
    monkeypatch.setenv("TFHUB_LLM_MAX_ASSET_MIB", "2")
    _answers(path)


# ---------------------------------------------------------------- sidecars and downloads


def test_a_sha256_sidecar_is_read_only_up_to_a_small_bound(tmp_path):
    archive_path = tmp_path / "model.tar.gz"
    archive_path.write_bytes(b"not really an archive")
    sidecar = tmp_path / "model.tar.gz.sha256"
    sidecar.write_text(archive.file_sha256(archive_path) + "  model.tar.gz\n")
    assert archive.verify_sha256(archive_path)  # positive control
    with open(sidecar, "ab") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB apparent, nothing written
    with pytest.raises(InvalidFileError, match="more than 4096 bytes"):
        archive.verify_sha256(archive_path)


def test_a_download_that_trickles_forever_ends_at_the_deadline(tmp_path, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        while not stop.is_set():
            try:
                connection.sendall(b"\0")
            except OSError:
                break
            stop.wait(0.05)
        connection.close()

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setenv("TFHUB_LLM_DOWNLOAD_DEADLINE", "1")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    error = resolve_error_in_thread(f"http://127.0.0.1:{listener.getsockname()[1]}/slow/1")
    stop.set()
    listener.close()
    assert isinstance(error, handles.HandleError) and "deadline" in str(error), error


def test_a_benign_model_still_answers_under_every_cap(tmp_path):
    _answers(_call_model(_benign, tmp_path / "model"))

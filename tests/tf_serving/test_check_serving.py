"""check_serving: TF1-session loading, warmup replay and per-release op lists, on passing and failing exports."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests.harness import FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, REPO, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.hub.security import saved_model_op_names
from tfhub_llm.tf_serving import check_serving, compare_session_outputs, export_for_serving
from tfhub_llm.tasks import serving as task_serving
from tfhub_llm.op_lists.tf_serving_releases import tf_serving_ops, tf_serving_releases
from tfhub_llm.tf_serving.export import WARMUP_FILE, read_warmup_requests, warmup_requests
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer

ROUND_ROBIN_TRIM = "TFText>RoundRobinTrim"


@pytest.fixture(scope="module")
def package_export(tmp_path_factory):
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, label_names=["no", "yes"])
    return model, export_for_serving(model, tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def fixture_export(tmp_path_factory):
    """A classifier over TF Model Garden's preprocessor exported with its own packing (TF Text's RoundRobinTrim).

    The serving export packs with ragged ops instead (tests/test_encoder_families.py); here it is told
    the preprocessor's packing is servable, to get an export that TF Serving 2.19 cannot load.
    """
    model = TextClassifier(FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, num_classes=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(task_serving, "unservable_packing_ops", lambda preprocessor: [])
        return export_for_serving(model, tmp_path_factory.mktemp("fixture"))


def test_the_package_export_passes(package_export):
    model, path = package_export
    report = check_serving(path, "2.19")
    assert report.ok, report.format()
    assert report.missing_ops == [] and report.error is None
    assert len(report.requests) == len(read_warmup_requests(os.path.join(path, WARMUP_FILE)))
    for request in report.requests:
        texts = [text.decode() for text in request.inputs["text"]]
        expected = model.predict(tf.constant(texts), verbose=0)
        np.testing.assert_allclose(request.outputs["probabilities"], expected, atol=1e-5)
    assert "OK" in report.format()
    for release in tf_serving_releases():
        assert saved_model_op_names(path) <= tf_serving_ops(release), release


def test_round_robin_trim_is_flagged_before_tf_serving_2_20(fixture_export):
    report = check_serving(fixture_export, "2.19")
    assert report.missing_ops == [ROUND_ROBIN_TRIM]
    assert not report.ok
    assert report.requests and not report.failed_requests  # it runs here, with a newer TF Text
    assert "FAILED" in report.format() and ROUND_ROBIN_TRIM in report.format()
    assert check_serving(fixture_export, "2.20.0").ok


def test_a_failing_request_fails_the_check(package_export, tmp_path):
    path = shutil.copytree(package_export[1], tmp_path / "1")
    logs = warmup_requests({"text": ["fine"]}) + warmup_requests({"txt": ["wrong input name"]})
    with tf.io.TFRecordWriter(str(path / WARMUP_FILE)) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    report = check_serving(path)
    assert report.missing_ops == [] and not report.ok
    assert [request.index for request in report.failed_requests] == [2, 3]
    assert "takes inputs ['text'], got ['txt']" in report.failed_requests[0].error
    assert "request 2 (serving_default)" in report.format()


def test_an_export_without_warmup_requests_fails_the_check(package_export, tmp_path):
    path = shutil.copytree(package_export[1], tmp_path / "1")
    os.remove(path / WARMUP_FILE)
    report = check_serving(path)
    assert not report.ok and report.requests == []
    assert "no warmup requests" in report.format()


def test_a_corrupt_warmup_file_or_missing_export_is_reported(package_export, tmp_path):
    path = shutil.copytree(package_export[1], tmp_path / "1")
    (path / WARMUP_FILE).write_bytes(b"garbage that is not a TFRecord")
    report = check_serving(path)
    assert not report.ok and report.error
    with pytest.raises(FileNotFoundError, match="is not a SavedModel: no saved_model.pb"):
        check_serving(tmp_path / "nothing")


def test_compare_session_outputs_names_each_difference(package_export):
    model, path = package_export
    texts = ["one", "two words"]
    probabilities = model.predict(tf.constant(texts), verbose=0)
    assert compare_session_outputs(path, {"text": texts}, {"probabilities": probabilities}) == []
    differences = compare_session_outputs(path, {"text": texts}, {
        "probabilities": probabilities + 0.1, "label": [5, 5], "label_name": ["no"], "logits": [0.0]})
    assert len(differences) == 4
    assert any("'probabilities' differs by up to 0.1" in line for line in differences)
    assert any("'logits' is missing" in line for line in differences)


def test_a_question_answerer_export_passes(tmp_path):
    model = SpanQuestionAnswerer(TINY_ENCODER, TINY_PREPROCESSOR, max_seq_length=32, doc_stride=8,
                                 max_query_length=8)
    report = check_serving(export_for_serving(model, tmp_path), "2.19")
    assert report.ok, report.format()
    expected = model.predict_answers([q.decode() for q in report.requests[-1].inputs["question"]],
                                     [c.decode() for c in report.requests[-1].inputs["context"]])
    assert [a.decode() for a in report.requests[-1].outputs["answer"]] == [a["answer"] for a in expected]


def test_op_lists_by_release():
    assert tf_serving_releases()[0] == "2.12" and "2.19" in tf_serving_releases()
    assert ROUND_ROBIN_TRIM not in tf_serving_ops("2.19")
    assert ROUND_ROBIN_TRIM in tf_serving_ops("2.20")
    assert tf_serving_ops("2.19") == tf_serving_ops("2.19.1")
    assert {"WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets", "MatMul"} <= tf_serving_ops("2.12")
    with pytest.raises(ValueError, match="No op list for TF Serving '2.9'; known releases: 2.12, 2.13"):
        tf_serving_ops("2.9")


def test_the_op_list_data_matches_its_sources():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "derive_serving_ops.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

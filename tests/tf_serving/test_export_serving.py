"""export_for_serving: TF Serving layout, atomic versions, raw-text signatures, warmup records, QA in the graph."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.squad import SquadExample
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tf_serving import export as serving
from tfhub_llm.tf_serving import export_for_serving, session_predict
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.squad import SquadExample
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.qa_serving import QuestionAnsweringServing
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tasks.sample_texts import SAMPLE_TEXTS

LABELS = ["negative", "neutral", "positive"]
TEXTS = ["fine", "a much longer sentence, which keeps going well past the first one's few words", "Café crème!"]
QUESTIONS = ["Who wrote the first program?", "Where is the café?", "what?", "Is there an answer?"]
CONTEXTS = [
    "Ada Lovelace wrote what is often called the first computer program, for the Analytical Engine "
    "that Charles Babbage designed but never built. Her notes were published in 1843. " * 2,
    "The café is near the river, two streets from the station.",
    "",
    "Short.",
]
LAYOUT = {"saved_model.pb", "variables", "assets", "assets.extra"}


def _randomize_head(model, seed):
    """Gives the output layer large random weights so probabilities differ from row to row."""
    rng = np.random.default_rng(seed)
    for weight in model.get_layer("probabilities").weights:
        weight.assign(rng.normal(0, 3, weight.shape).astype("float32"))


@pytest.fixture(scope="module")
def classifier():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, label_names=LABELS)
    _randomize_head(model, 0)
    return model


@pytest.fixture(scope="module")
def exported(classifier, tmp_path_factory):
    return export_for_serving(classifier, tmp_path_factory.mktemp("served") / "classifier")


def test_versions_count_up_side_by_side_with_nothing_else(classifier, tmp_path):
    first = export_for_serving(classifier, tmp_path / "model")
    second = export_for_serving(classifier, tmp_path / "model")
    assert (first, second) == (str(tmp_path / "model" / "1"), str(tmp_path / "model" / "2"))
    assert sorted(os.listdir(tmp_path / "model")) == ["1", "2"]
    for version in (first, second):
        assert LAYOUT <= set(os.listdir(version))
        assert os.listdir(os.path.join(version, "assets.extra")) == ["tf_serving_warmup_requests"]


def test_an_existing_version_is_never_overwritten(exported, classifier):
    pb_path = os.path.join(exported, "saved_model.pb")
    before = os.stat(pb_path).st_mtime_ns
    with pytest.raises(FileExistsError, match="never overwritten.*version 2"):
        export_for_serving(classifier, os.path.dirname(exported), version=1)
    assert os.stat(pb_path).st_mtime_ns == before
    assert os.listdir(os.path.dirname(exported)) == ["1"]


def test_explicit_version_and_bad_versions(classifier, tmp_path):
    assert export_for_serving(classifier, tmp_path, version=7).endswith(os.sep + "7")
    for bad in (0, -1, "8", 2.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            export_for_serving(classifier, tmp_path, version=bad)
    assert os.listdir(tmp_path) == ["7"]


def test_a_crash_during_export_leaves_no_version_and_no_temp_dir(classifier, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(serving, "write_warmup_requests", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_for_serving(classifier, tmp_path / "model")
    assert os.listdir(tmp_path / "model") == []


def test_exports_abandoned_by_dead_processes_are_cleaned_up(classifier, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = tmp_path / f".tmp-1-{dead.pid}-x1y2"
    in_progress = tmp_path / f".tmp-1-{os.getpid()}-z3w4"
    for folder in (abandoned, in_progress):
        (folder / "variables").mkdir(parents=True)
    export_for_serving(classifier, tmp_path)
    assert not abandoned.exists() and in_progress.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(["1", in_progress.name])


def test_tf1_session_gives_the_probabilities_of_predict(exported, classifier):
    expected = classifier.predict(tf.constant(TEXTS), verbose=0)
    outputs = session_predict(exported, {"text": TEXTS})
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["label"], expected.argmax(axis=1))
    assert [name.decode() for name in outputs["label_name"]] == [LABELS[i] for i in expected.argmax(axis=1)]
    assert outputs["label"].dtype == np.int64 and outputs["probabilities"].dtype == np.float32


def test_warmup_records_parse_into_predict_requests(exported):
    logs = serving.read_warmup_requests(os.path.join(exported, serving.WARMUP_FILE))
    defaults = SAMPLE_TEXTS[("text",)]["text"]
    assert len(logs) == len(defaults) + 1
    for log in logs:
        assert log.predict_log.request.model_spec.signature_name == "serving_default"
        assert list(log.predict_log.request.inputs) == ["text"]
    rows = [tf.make_ndarray(log.predict_log.request.inputs["text"]).tolist() for log in logs]
    assert rows == [[text.encode()] for text in defaults] + [[text.encode() for text in defaults]]


def test_custom_warmup_inputs_and_their_errors(classifier, tmp_path):
    path = export_for_serving(classifier, tmp_path / "ok", warmup_inputs={"text": ["one", "two"]})
    assert len(serving.read_warmup_requests(os.path.join(path, serving.WARMUP_FILE))) == 3
    for bad, message in [({"txt": ["a"]}, "exactly the inputs"), ({"text": []}, "same number"),
                         ({"text": ["a", 3]}, r"\['text'\]\[1\] is int"), (["a"], "exactly the inputs")]:
        with pytest.raises(ValueError, match=message):
            export_for_serving(classifier, tmp_path / "bad", warmup_inputs=bad)
    assert not (tmp_path / "bad").exists()


def test_a_corrupt_warmup_record_is_named(tmp_path):
    path = tmp_path / "warmup"
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(b"\xff not a proto")
    with pytest.raises(ValueError, match="record 0 is not a PredictionLog"):
        serving.read_warmup_requests(path)


def test_requests_are_padded_only_to_their_longest_input(monkeypatch, tmp_path):
    """Even over a preprocessor padding to 128, the export pads each request to its longest input."""
    seen_lengths = []
    call = HubEncoder.call

    def recording_call(self, inputs, training=None):
        seen_lengths.append(inputs["input_word_ids"].shape[1])
        return call(self, inputs, training)

    monkeypatch.setattr(HubEncoder, "call", recording_call)
    preprocessor = HubPreprocessor(TINY_PREPROCESSOR, seq_length=128, pad_to_longest=False)
    model = TextClassifier(TINY_ENCODER, preprocessor, num_classes=2)
    _randomize_head(model, 4)
    seen_lengths.clear()
    path = export_for_serving(model, tmp_path)
    assert seen_lengths == [None]  # traced once, with the length of each request's longest input
    assert preprocessor.pad_to_longest is False
    alone = session_predict(path, {"text": TEXTS[:1]})["probabilities"]
    batched = session_predict(path, {"text": TEXTS})["probabilities"]
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)
    np.testing.assert_allclose(batched, model.predict(tf.constant(TEXTS), verbose=0), atol=1e-5)


def test_pair_classifier_takes_text_and_text_b(tmp_path):
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=2, text_pair=True)
    _randomize_head(model, 1)
    path = export_for_serving(model, tmp_path)
    pairs = {"text": ["The cat sat.", "Profits rose."], "text_b": ["A cat was sitting.", "It rained all day long."]}
    expected = model.predict({key: tf.constant(value) for key, value in pairs.items()}, verbose=0)
    outputs = session_predict(path, pairs)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    assert "label_name" not in outputs


def test_multi_label_gives_k_hot_labels_and_their_names():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=3, multi_label=True, label_names=LABELS)
    _randomize_head(model, 2)
    # Each label's logits centred on the texts' median, so that the random tiny encoder (whose pooled outputs
    # differ little from text to text) still gives some labels above 0.5 and some below.
    head = model.get_layer("probabilities")
    probabilities = model.predict(tf.constant(TEXTS), verbose=0).astype(np.float64)
    head.bias.assign(head.bias.numpy() - np.median(np.log(probabilities / (1 - probabilities)), axis=0).astype("float32"))
    outputs = model.serving_module().serve(tf.constant(TEXTS))
    probabilities = outputs["probabilities"].numpy()
    k_hot = (probabilities > 0.5).astype(np.int64)
    assert 0 < k_hot.sum() < k_hot.size
    np.testing.assert_array_equal(outputs["label"], k_hot)
    expected_names = np.where(k_hot > 0, np.array(LABELS, dtype=object), "").tolist()
    assert [[name.decode() for name in row] for row in outputs["label_name"].numpy()] == expected_names


def test_regression_gives_a_value():
    model = TextClassifier(TINY_ENCODER, TINY_PREPROCESSOR, num_classes=1)
    outputs = model.serving_module().serve(tf.constant(TEXTS))
    assert sorted(outputs) == ["value"]
    np.testing.assert_allclose(outputs["value"], model.predict(tf.constant(TEXTS), verbose=0)[:, 0], atol=1e-5)


def test_other_models_are_refused(tmp_path):
    with pytest.raises(TypeError, match="a TextEmbedder or a Keras model on raw text, not Dense"):
        export_for_serving(keras.layers.Dense(1), tmp_path)
    with pytest.raises(TypeError, match="Sequential 'unbuilt' has no known inputs"):
        export_for_serving(keras.Sequential([keras.layers.Dense(1)], name="unbuilt"), tmp_path)
    numbers = keras.Input(shape=(3,), name="numbers")
    with pytest.raises(TypeError, match=r"inputs are all strings \[batch\].*has inputs numbers float32 \(None, 3\)"):
        export_for_serving(keras.Model(numbers, keras.layers.Dense(1)(numbers)), tmp_path)
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def question_answerer():
    model = SpanQuestionAnswerer(TINY_ENCODER, TINY_PREPROCESSOR, max_seq_length=32, doc_stride=8,
                                 max_query_length=8)
    rng = np.random.default_rng(3)
    for weight in model.get_layer("span_logits").weights:
        weight.assign(rng.normal(0, 2, weight.shape).astype("float32"))
    return model


def _assert_same_answers(outputs, expected):
    for index, want in enumerate(expected):
        got = {key: outputs[key][index] for key in ("answer", "score", "start", "end")}
        assert (got["answer"].decode(), int(got["start"]), int(got["end"])) == (
            want["answer"], want["start"], want["end"]), (index, want)
        assert got["score"] == pytest.approx(want["score"], abs=1e-5)


def test_qa_export_answers_as_predict_answers_over_several_windows(question_answerer, tmp_path):
    path = export_for_serving(question_answerer, tmp_path)
    features = question_answerer.make_features([SquadExample(str(i), q, c, [], False)
                                                for i, (q, c) in enumerate(zip(QUESTIONS, CONTEXTS))])
    assert np.bincount(features.example_index)[0] > 2  # the first context spans several windows
    outputs = session_predict(path, {"question": QUESTIONS, "context": CONTEXTS})
    expected = question_answerer.predict_answers(QUESTIONS, CONTEXTS)
    _assert_same_answers(outputs, expected)
    assert {answer["start"] for answer in expected} != {-1}
    for answer, start, end, context in zip(outputs["answer"], outputs["start"], outputs["end"], CONTEXTS):
        assert answer.decode() == (context[start:end] if start >= 0 else "")


@pytest.mark.parametrize("threshold", [-1e9, 0.0, 1e9])
def test_qa_v2_null_answers_match_predict_answers(question_answerer, monkeypatch, threshold):
    monkeypatch.setattr(question_answerer, "version_2_with_negative", True)
    monkeypatch.setattr(question_answerer, "null_score_diff_threshold", threshold)
    outputs = QuestionAnsweringServing(question_answerer).serve(tf.constant(QUESTIONS), tf.constant(CONTEXTS))
    expected = question_answerer.predict_answers(QUESTIONS, CONTEXTS)
    _assert_same_answers({key: value.numpy() for key, value in outputs.items()}, expected)
    nulls = [answer["start"] == -1 for answer in expected]
    if threshold < 0:
        assert all(nulls)
    elif threshold > 0:
        assert nulls == [context == "" for context in CONTEXTS]


def test_qa_signature_answers_empty_requests_and_refuses_uneven_ones(question_answerer):
    serve = QuestionAnsweringServing(question_answerer).serve
    empty = tf.constant([], tf.string)
    assert {key: value.shape for key, value in serve(empty, empty).items()} == {
        "answer": [0], "score": [0], "start": [0], "end": [0]}
    with pytest.raises(tf.errors.InvalidArgumentError, match="same number of rows"):
        serve(tf.constant(QUESTIONS), tf.constant(CONTEXTS[:2]))


def test_a_model_loaded_from_a_keras_file_exports_its_trained_weights(classifier, tmp_path):
    classifier.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    path = export_for_serving(loaded, tmp_path / "served")
    expected = classifier.predict(tf.constant(TEXTS), verbose=0)
    np.testing.assert_allclose(session_predict(path, {"text": TEXTS})["probabilities"], expected, atol=1e-5)

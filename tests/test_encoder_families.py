"""Every TF-Hub text encoder family end to end, over the Model Garden exports in tests/fixtures/model_garden.

Each folder there is an encoder + preprocessor pair written by TF Model Garden's exporter (BERT
uncased / cased / factorised embeddings / norm-first, ALBERT + SentencePiece, MobileBERT; with and
without ``mlm``; default lengths 32 to 128). For each: load with the scan on → equal to
``hub.load`` at the preprocessor's default length → packing with ragged ops equal to the
preprocessor's own → ``fit`` → ``.keras`` round trip → serving export equal to ``predict`` →
``check_serving`` for TF Serving 2.19 → publish → ``hub.load`` over http.
"""

import functools
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_hub  # noqa: E402

from tfhub_llm.export import check_serving, export_for_serving, session_predict  # noqa: E402
from tfhub_llm.export import hub as export_hub  # noqa: E402
from tfhub_llm.export.servable_packing import unservable_packing_ops  # noqa: E402
from tfhub_llm.layers import HubEncoder, HubPreprocessor  # noqa: E402
from tfhub_llm.security import saved_model_op_names  # noqa: E402
from tfhub_llm.tasks.classifier import TextClassifier  # noqa: E402
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer  # noqa: E402

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "model_garden"
FAMILIES = sorted(path.name for path in FIXTURES.iterdir() if (path / "config.json").is_file())
LONG = "The Quick brown fox jumps over the lazy dog, again and again; nobody minds. " * 12
TEXTS = [LONG, "Hello, World!", "", "   ", "naïve café — déjà vu", "a gripping, beautifully acted film",
         "The plot never comes together.", "ok"] * 2  # 16 rows: the encoder's micro-batches are on
TEXTS_B = ["Short.", LONG, "", "Another sentence here.", "x", "", "a b c d e f g", "ok"] * 2
LABELS = np.array([1, 0, 1, 0, 1, 1, 0, 0] * 2)


# The whole chain fit → serving → hub runs for every family in `make test`; in the fast suite for ALBERT.
FAST_CHAIN = "albert_sp_seq32_mlm"


@functools.lru_cache(maxsize=1)
def _load(name):
    """One fixture pair loaded with the scan on, and the same pair through plain ``hub.load``."""
    folder = FIXTURES / name
    return {
        "name": name,
        "folder": folder,
        "config": json.loads((folder / "config.json").read_text()),
        "preprocessor": HubPreprocessor(folder / "preprocessor"),
        "encoder": HubEncoder(folder / "encoder"),
        "hub_preprocessor": tensorflow_hub.load(str(folder / "preprocessor")),
        "hub_encoder": tensorflow_hub.load(str(folder / "encoder")),
    }


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return _load(request.param)


def _close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=atol)


def _masked(sequence, mask):
    return np.asarray(sequence) * np.asarray(mask)[..., None]


def test_packs_to_the_preprocessors_own_default_length_unless_told(family):
    preprocessor = family["preprocessor"]
    default = family["config"]["default_seq_length"]
    assert preprocessor.default_seq_length == preprocessor.max_seq_length == default
    assert preprocessor(tf.constant(TEXTS))["input_word_ids"].shape == (len(TEXTS), default)
    shorter = HubPreprocessor(family["folder"] / "preprocessor", seq_length=24)
    assert shorter.max_seq_length == 24
    assert shorter(tf.constant(TEXTS))["input_word_ids"].shape == (len(TEXTS), 24)


def test_equals_hub_load_at_the_default_length(family):
    for segments in ([TEXTS], [TEXTS, TEXTS_B]):
        ours = family["preprocessor"]([tf.constant(s) for s in segments] if len(segments) == 2 else tf.constant(TEXTS))
        theirs = family["hub_preprocessor"].bert_pack_inputs(
            [family["hub_preprocessor"].tokenize(tf.constant(s)) for s in segments],
            seq_length=family["config"]["default_seq_length"])
        for key in theirs:
            np.testing.assert_array_equal(ours[key], theirs[key])
    default_call = family["hub_preprocessor"](tf.constant(TEXTS))
    outputs = family["encoder"](family["preprocessor"](tf.constant(TEXTS)))
    expected = family["hub_encoder"](default_call, training=False)
    _close(outputs["pooled_output"], expected["pooled_output"])
    mask = default_call["input_mask"]
    _close(_masked(outputs["sequence_output"], mask), _masked(expected["sequence_output"], mask))


def test_special_tokens_come_from_the_preprocessor(family):
    preprocessor = family["preprocessor"]
    special = {key: int(value) for key, value in family["hub_preprocessor"].tokenize.get_special_tokens_dict().items()}
    assert (preprocessor.cls_id, preprocessor.sep_id, preprocessor.pad_id, preprocessor.mask_id) == (
        special["start_of_sequence_id"], special["end_of_segment_id"], special["padding_id"], special["mask_id"])
    assert preprocessor.vocab_size == family["config"]["vocab_size"]
    ids = preprocessor([tf.constant(["two words"]), tf.constant([""])])["input_word_ids"].numpy()[0]
    length = len(preprocessor.token_ids(["two words"])[0])
    assert ids[0] == preprocessor.cls_id and ids[length + 1] == ids[length + 2] == preprocessor.sep_id
    assert set(ids[length + 3:]) == {preprocessor.pad_id}


def test_token_ids_are_flat_for_wordpiece_and_sentencepiece(family):
    preprocessor = family["preprocessor"]
    tokens = preprocessor.token_ids(TEXTS)
    assert tokens.shape.rank == 2 and tokens.dtype == tf.int32
    assert tokens.to_list() == preprocessor.tokenize(TEXTS).merge_dims(1, -1).to_list()
    assert len(tokens[2]) == 0 and len(tokens[0]) > family["config"]["default_seq_length"]


def test_ragged_op_packing_gives_the_preprocessors_own_ids(family):
    preprocessor = family["preprocessor"]
    assert "TFText>RoundRobinTrim" in unservable_packing_ops(preprocessor)
    pairs = [tf.constant(TEXTS), tf.constant(TEXTS_B)]
    for seq_length in (None, 8, 3):
        for inputs in (tf.constant(TEXTS), pairs):
            segments = [preprocessor.tokenize(s) for s in (inputs if isinstance(inputs, list) else [inputs])]
            own = preprocessor.bert_pack_inputs(segments, seq_length)
            preprocessor.pack_with_ragged_ops = True
            try:
                ragged = preprocessor.bert_pack_inputs(segments, seq_length)
            finally:
                preprocessor.pack_with_ragged_ops = False
            for key in own:
                np.testing.assert_array_equal(ragged[key], own[key], err_msg=f"{key}, seq_length={seq_length}")


def test_tokenize_with_offsets_or_a_clear_error(family):
    preprocessor = family["preprocessor"]
    assert preprocessor.has_offsets == family["config"]["tokenize_with_offsets"]
    if not preprocessor.has_offsets:
        with pytest.raises(ValueError, match="has no tokenize_with_offsets") as error:
            preprocessor.tokenize_with_offsets(TEXTS)
        assert family["name"] in str(error.value)
        with pytest.raises(ValueError, match="question answering needs") as error:
            SpanQuestionAnswerer(family["encoder"], preprocessor)
        assert family["name"] in str(error.value)
        return
    ids, starts, ends = preprocessor.tokenize_with_offsets(TEXTS)
    assert ids.to_list() == preprocessor.token_ids(TEXTS).to_list()
    text = TEXTS[1].encode()
    pieces = [text[s:e].decode() for s, e in zip(starts[1].numpy(), ends[1].numpy())]
    assert "".join(pieces).replace(" ", "").lower() == TEXTS[1].replace(" ", "").lower()


def test_question_answering_over_offset_preprocessors(family):
    preprocessor = family["preprocessor"]
    if not preprocessor.has_offsets:
        pytest.skip(f"{family['name']}'s preprocessor has no tokenize_with_offsets (the error is tested above)")
    model = SpanQuestionAnswerer(family["encoder"], preprocessor, doc_stride=8)
    assert model.max_seq_length == preprocessor.default_seq_length
    assert model.max_query_length == min(64, model.max_seq_length // 2)
    contexts = [LONG, "Ada Lovelace wrote the first program."]
    answers = model.predict_answers(["Who jumps?", "Who wrote it?"], contexts)
    for answer, context in zip(answers, contexts):
        assert answer["start"] == -1 or context[answer["start"]:answer["end"]] == answer["answer"]


def test_mlm_logits_equal_the_hub_modules(family):
    encoder = family["encoder"]
    assert encoder.has_mlm == family["config"]["with_mlm"]
    if not encoder.has_mlm:
        pytest.skip(f"{family['name']} was exported without mlm")
    inputs = family["hub_preprocessor"](tf.constant(TEXTS[:4]))
    positions = tf.constant([[1, 2]] * 4)
    logits = encoder.mlm_logits(inputs, positions)
    assert logits.shape == (4, 2, family["config"]["vocab_size"])
    expected = family["hub_encoder"].mlm({**inputs, "masked_lm_positions": positions}, training=False)
    _close(logits, expected["mlm_logits"], atol=1e-4)


# ---------------------------------------------------------------- fit → .keras → serving → hub


@pytest.fixture(scope="module", params=[
    name if name == FAST_CHAIN else pytest.param(name, marks=pytest.mark.slow) for name in FAMILIES])
def trained(request, tmp_path_factory):
    """A classifier over the family fine-tuned for a few steps, saved as .keras and loaded back."""
    family = _load(request.param)
    model = TextClassifier(
        HubEncoder(family["folder"] / "encoder", trainable=True), family["folder"] / "preprocessor", num_classes=2)
    model.compile(learning_rate=1e-3)
    before = [weight.numpy().copy() for weight in model.encoder.trainable_weights]
    history = model.fit(tf.constant(TEXTS), LABELS, epochs=1, batch_size=8, verbose=0)
    path = tmp_path_factory.mktemp(family["name"]) / "model.keras"
    model.save(path)
    return {"family": family, "model": model, "before": before, "history": history.history, "loaded": keras.saving.load_model(path),
            "dir": path.parent}


def test_fit_trains_the_encoder(trained):
    changed = [not np.array_equal(b, a.numpy()) for b, a in zip(trained["before"], trained["model"].encoder.trainable_weights)]
    assert any(changed)
    assert np.isfinite(trained["history"]["loss"]).all()


def test_keras_round_trip_keeps_the_predictions(trained):
    _close(trained["loaded"].predict(tf.constant(TEXTS), verbose=0), trained["model"].predict(tf.constant(TEXTS), verbose=0))


def test_serving_export_equals_predict_and_loads_in_tf_serving_2_19(trained):
    model = trained["model"]
    path = export_for_serving(model, trained["dir"] / "serving")
    _close(session_predict(path, {"text": TEXTS})["probabilities"], model.predict(tf.constant(TEXTS), verbose=0))
    report = check_serving(path, tf_serving_version="2.19")
    assert report.ok, report.format()
    assert not {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks"} & saved_model_op_names(path)
    assert not model.preprocessor.pack_with_ragged_ops  # only the export's trace packed with ragged ops


def test_published_pair_loads_over_http(trained, serve_directory, tmp_path, monkeypatch):
    family = trained["family"]
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    model = trained["model"]
    exported = export_hub.export_to_hub(model, tmp_path / "export")
    hub_dir = tmp_path / "hub"
    export_hub.publish(exported / "encoder", hub_dir, "encoder", 1)
    export_hub.publish(exported / "preprocessor", hub_dir, "preprocessor", 1)
    base = serve_directory(hub_dir)
    inputs = family["hub_preprocessor"](tf.constant(TEXTS))
    module = tensorflow_hub.load(f"{base}/encoder/1")
    expected = model.encoder(inputs)["pooled_output"]
    _close(module(inputs, training=False)["pooled_output"], expected)
    assert hasattr(module, "mlm") == family["config"]["with_mlm"]
    encoder = HubEncoder(f"{base}/encoder/1")
    preprocessor = HubPreprocessor(f"{base}/preprocessor/1")
    assert preprocessor.default_seq_length == family["config"]["default_seq_length"]
    _close(encoder(preprocessor(tf.constant(TEXTS)))["pooled_output"], expected)

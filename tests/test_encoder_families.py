"""Every TF-Hub text encoder family end to end, over the Model Garden exports in tests/fixtures/model_garden.

Each folder there is an encoder + preprocessor pair written by TF Model Garden's exporter (BERT
uncased / cased / factorised embeddings / norm-first, ALBERT + SentencePiece, MobileBERT; with and
without ``mlm``; default lengths 32 to 128). The cheap checks load each pair once (scan on): its
default length, special tokens, flat token ids, ragged-op packing equal to the preprocessor's own,
offsets or a clear error, and outputs equal to ``hub.load``'s at the default length. One chain per
family then takes one fine-tuned model through every stage: ``fit`` → ``.keras`` round trip →
serving export answering as ``predict`` in TF Serving 2.19's session → publish → ``hub.load`` over http.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub

from tests.harness import FIXTURES, TINY_PREPROCESSOR, keras_round_trip
from tfhub_llm.hub.security import saved_model_op_names
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor, pack_inputs
from tfhub_llm.publishing import export_to_hub, publish
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tf_serving import check_serving, export_for_serving
from tfhub_llm.tasks.packing import unservable_packing_ops

MODEL_GARDEN = FIXTURES / "model_garden"
FAMILIES = sorted(path.name for path in MODEL_GARDEN.iterdir() if (path / "config.json").is_file())
LONG = "The Quick brown fox jumps over the lazy dog, again and again; nobody minds. " * 12
TEXTS = [LONG, "Hello, World!", "", "   ", "naïve café — déjà vu", "a gripping, beautifully acted film",
         "The plot never comes together.", "ok"] * 2  # 16 rows: the encoder's micro-batches are on
TEXTS_B = ["Short.", LONG, "", "Another sentence here.", "x", "", "a b c d e f g", "ok"] * 2
TRAIN_TEXTS, TRAIN_LABELS = TEXTS[4:8], np.array([1, 1, 0, 0])
ROUND_ROBIN_OPS = {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks"}

# The chain runs for every family in `make test`; in the fast suite (`-m "not slow"`) for ALBERT + SentencePiece.
FAST_CHAIN = "albert_sp_seq32_mlm"


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    """One fixture pair: its config, its preprocessor (scan on) and the same preprocessor through ``hub.load``."""
    folder = MODEL_GARDEN / request.param
    return {
        "name": request.param,
        "folder": folder,
        "config": json.loads((folder / "config.json").read_text()),
        "preprocessor": HubPreprocessor(folder / "preprocessor"),
        "hub_preprocessor": tensorflow_hub.load(str(folder / "preprocessor")),
    }


@pytest.fixture(scope="module")
def encoder(family):
    """The family's encoder as loaded (micro-batches on), and the same encoder through ``hub.load``."""
    return HubEncoder(family["folder"] / "encoder"), tensorflow_hub.load(str(family["folder"] / "encoder"))


def _close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=atol)


def _masked(sequence, mask):
    return np.asarray(sequence) * np.asarray(mask)[..., None]


# ---------------------------------------------------------------- each family's preprocessor and encoder


def test_packs_to_the_preprocessors_own_default_length_unless_told(family):
    preprocessor = family["preprocessor"]
    default = family["config"]["default_seq_length"]
    assert preprocessor.default_seq_length == preprocessor.max_seq_length == default
    assert preprocessor(tf.constant(TEXTS))["input_word_ids"].shape == (len(TEXTS), default)
    shorter = HubPreprocessor(family["folder"] / "preprocessor", seq_length=24)
    assert shorter.max_seq_length == 24
    assert shorter(tf.constant(TEXTS))["input_word_ids"].shape == (len(TEXTS), 24)


def test_packing_equals_hub_load_at_the_default_length(family):
    hub_preprocessor = family["hub_preprocessor"]
    for segments in ([TEXTS], [TEXTS, TEXTS_B]):
        ours = family["preprocessor"]([tf.constant(s) for s in segments])
        theirs = hub_preprocessor.bert_pack_inputs([hub_preprocessor.tokenize(tf.constant(s)) for s in segments],
                                                   seq_length=family["config"]["default_seq_length"])
        for key in theirs:
            np.testing.assert_array_equal(ours[key], theirs[key])


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
    assert not unservable_packing_ops(preprocessor, tf_serving_version="2.20")
    for seq_length in (preprocessor.max_seq_length, 8, 3):
        for inputs in ([tf.constant(TEXTS)], [tf.constant(TEXTS), tf.constant(TEXTS_B)]):
            for pad_to_longest in (False, True):
                own, ragged = (pack_inputs(preprocessor.module, inputs, seq_length, pad_to_longest, ragged_ops=ragged_ops)
                               for ragged_ops in (False, True))
                for key in own:
                    np.testing.assert_array_equal(ragged[key], own[key], err_msg=f"{key}, seq_length={seq_length}, "
                                                  f"{len(inputs)} segment(s), pad_to_longest={pad_to_longest}")


def test_encoder_equals_hub_load_at_the_default_length(family, encoder):
    ours, theirs = encoder
    default_call = family["hub_preprocessor"](tf.constant(TEXTS))
    outputs = ours(family["preprocessor"](tf.constant(TEXTS)))  # 16 rows: micro-batches on
    expected = theirs(default_call, training=False)
    _close(outputs["pooled_output"], expected["pooled_output"])
    mask = default_call["input_mask"]
    _close(_masked(outputs["sequence_output"], mask), _masked(expected["sequence_output"], mask))
    assert ours.has_mlm == family["config"]["with_mlm"]
    if ours.has_mlm:
        inputs = {key: value[:4] for key, value in default_call.items()}
        positions = tf.constant([[1, 2]] * 4)
        logits = ours.mlm_logits(inputs, positions)
        assert logits.shape == (4, 2, family["config"]["vocab_size"])
        _close(logits, theirs.mlm({**inputs, "masked_lm_positions": positions}, training=False)["mlm_logits"], atol=1e-4)


def test_tokenize_with_offsets_or_a_clear_error(family, encoder):
    preprocessor = family["preprocessor"]
    assert preprocessor.has_offsets == family["config"]["tokenize_with_offsets"]
    if not preprocessor.has_offsets:
        with pytest.raises(ValueError, match="has no tokenize_with_offsets") as error:
            preprocessor.tokenize_with_offsets(TEXTS)
        assert family["name"] in str(error.value)
        with pytest.raises(ValueError, match="question answering needs") as error:
            SpanQuestionAnswerer(encoder[0], preprocessor)
        assert family["name"] in str(error.value)
        return
    ids, starts, ends = preprocessor.tokenize_with_offsets(TEXTS)
    assert ids.to_list() == preprocessor.token_ids(TEXTS).to_list()
    text = TEXTS[1].encode()
    pieces = [text[s:e].decode() for s, e in zip(starts[1].numpy(), ends[1].numpy())]
    assert "".join(pieces).replace(" ", "").lower() == TEXTS[1].replace(" ", "").lower()
    model = SpanQuestionAnswerer(encoder[0], preprocessor, doc_stride=8)
    assert model.max_seq_length == preprocessor.default_seq_length
    assert model.max_query_length == min(64, model.max_seq_length // 2)
    contexts = [LONG, "Ada Lovelace wrote the first program."]
    for answer, context in zip(model.predict_answers(["Who jumps?", "Who wrote it?"], contexts), contexts):
        assert answer["start"] == -1 or context[answer["start"]:answer["end"]] == answer["answer"]


def test_the_packages_own_packing_is_servable():
    assert unservable_packing_ops(HubPreprocessor(TINY_PREPROCESSOR)) == []


# ---------------------------------------------------------------- one chain per family


def _fit_one_step(model):
    before = [weight.numpy().copy() for weight in model.encoder.trainable_weights]
    model.compile(learning_rate=1e-3)
    history = model.fit(tf.constant(TRAIN_TEXTS), TRAIN_LABELS, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert any(not np.array_equal(b, a.numpy()) for b, a in zip(before, model.encoder.trainable_weights))


def _serving_export_answers_as_predict_in_tf_serving_2_19(model, out_dir):
    """The export of ``model`` loaded back from ``.keras`` answers its warmup requests (TEXTS one by one,
    then all together) in TF Serving 2.19's session as ``model.predict`` does."""
    path = export_for_serving(keras_round_trip(model, out_dir), out_dir / "serving", warmup_inputs={"text": TEXTS})
    assert not ROUND_ROBIN_OPS & saved_model_op_names(path)
    report = check_serving(path, tf_serving_version="2.19")
    assert report.ok, report.format()
    expected = model.predict(tf.constant(TEXTS), verbose=0)
    _close(np.concatenate([request.outputs["probabilities"] for request in report.requests[:-1]]), expected)
    _close(report.requests[-1].outputs["probabilities"], expected)


def _published_pair_loads_over_http(family, model, out_dir, base_url_of):
    exported = export_to_hub(model, out_dir / "export")
    for kind in ("encoder", "preprocessor"):
        publish(exported / kind, out_dir / "hub", kind, 1)
    base = base_url_of(out_dir / "hub")
    encoder = tensorflow_hub.load(f"{base}/encoder/1")
    assert hasattr(encoder, "mlm") == family["config"]["with_mlm"]
    preprocessor = HubPreprocessor(f"{base}/preprocessor/1")
    assert preprocessor.default_seq_length == family["config"]["default_seq_length"]
    expected = model.encoder(model.preprocessor(tf.constant(TEXTS)))["pooled_output"]
    _close(encoder(preprocessor(tf.constant(TEXTS)), training=False)["pooled_output"], expected)


@pytest.mark.parametrize("family", [
    name if name == FAST_CHAIN else pytest.param(name, marks=pytest.mark.slow) for name in FAMILIES], indirect=True)
def test_chain_fit_keras_serve_publish(family, tmp_path, serve_directory, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    # One micro-batch: fit would trace every micro-batch's branch (3x the time); fit through micro-batches
    # is tested in tests/layers/test_hub_layers_micro_batches.py, and their outputs for each family above.
    encoder = HubEncoder(family["folder"] / "encoder", trainable=True, micro_batches=1)
    model = TextClassifier(encoder, family["preprocessor"], num_classes=2)
    _fit_one_step(model)
    _serving_export_answers_as_predict_in_tf_serving_2_19(model, tmp_path)
    _published_pair_loads_over_http(family, model, tmp_path, serve_directory)

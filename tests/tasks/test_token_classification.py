"""TokenClassifier on the tiny model: masked training, word tags, entities with character offsets, .keras, exports.

The model is trained (a high learning rate, many epochs on a few hand-written sentences) until it
memorises them, so its entities on those sentences are known and the serving export can be
compared with ``predict_entities`` on real entities rather than noise.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, TINY_ENCODER, TINY_PREPROCESSOR, run_task_test
from tfhub_llm.readers.conll import TaggedSentences
from tfhub_llm.tasks.entity_serving import NO_ENTITY, EntityServing
from tfhub_llm.tasks.token_classification import TokenClassifier
from tfhub_llm.tasks.words import preprocessor_words, words_with_offsets
from tfhub_llm.tf_serving import DevelopmentServer, ServingClient, check_serving, export_for_serving, session_predict

SENTENCES = [
    ("Ada Lovelace visited Zürich .", "B-PER I-PER O B-LOC O"),
    ("Grace Hopper joined the Navy .", "B-PER I-PER O O B-ORG O"),
    ("the Navy sent Grace to Zürich", "O B-ORG O B-PER O B-LOC"),
    ("Zürich welcomed Ada", "B-LOC O B-PER"),
]
TRAIN = TaggedSentences(tokens=[text.split() for text, _ in SENTENCES], tags=[tags.split() for _, tags in SENTENCES],
                        documents=[0, 0, 1, 1], lines=[[1] * len(text.split()) for text, _ in SENTENCES], path="hand")
LABELS = ["O", "B-LOC", "B-ORG", "B-PER", "I-PER"]
LONG_TEXT = " ".join(["Ada Lovelace visited Zürich ."] * 12)  # ~70 pieces: several windows of 16
TEXTS = ["Ada Lovelace visited Zürich.", "Grace Hopper joined the Navy.", "", "🎤 東京 Beyoncé, Zürich!", LONG_TEXT]


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = TokenClassifier(TINY_ENCODER, TINY_PREPROCESSOR, LABELS, max_seq_length=16, doc_stride=6)
    model.compile(learning_rate=1e-2)
    features = model.make_features(TRAIN)
    model.fit(model.features_dataset(features, batch_size=4, seed=0).repeat(10), epochs=4, shuffle=False, verbose=0)
    return model


def test_only_first_pieces_count_in_the_loss_and_accuracy(model):
    features = model.make_features(TRAIN)
    assert features.label_weights.sum() == sum(len(tags) for tags in TRAIN.tags)
    tokens = model.preprocessor.tokenize(["Lovelace"]).merge_dims(1, -1)
    assert tokens.row_lengths()[0] > 1  # a word of several pieces, only the first labelled
    scrambled = features.labels.copy()
    scrambled[features.label_weights == 0] = np.random.default_rng(1).integers(0, len(LABELS),
                                                                               (features.label_weights == 0).sum())
    inputs = features.encoder_inputs()
    same = model.evaluate(inputs, features.labels, sample_weight=features.label_weights, verbose=0, return_dict=True)
    other = model.evaluate(inputs, scrambled, sample_weight=features.label_weights, verbose=0, return_dict=True)
    assert same == pytest.approx(other)
    assert same["accuracy"] == 1.0 and same["loss"] < 0.1


def test_predict_tags_gives_one_tag_per_word_also_over_several_windows(model):
    assert model.predict_tags(TRAIN.tokens) == TRAIN.tags
    long_tokens = LONG_TEXT.split()
    assert len(model.make_features([long_tokens])) > 2
    assert model.predict_tags([long_tokens]) == [["B-PER", "I-PER", "O", "B-LOC", "O"] * 12]
    assert model.predict_tags([["Ada", "\u200b", "visited"]])[0][1] == "O"  # a word without pieces


def test_predict_entities_cuts_the_original_text_exactly(model):
    entities = model.predict_entities(TEXTS)
    assert [(e["text"], e["label"]) for e in entities[0]] == [("Ada Lovelace", "PER"), ("Zürich", "LOC")]
    assert [(e["text"], e["label"]) for e in entities[1]] == [("Grace Hopper", "PER"), ("Navy", "ORG")]
    assert entities[2] == []
    assert len(entities[4]) == 24
    for text, found in zip(TEXTS, entities):
        for entity in found:
            assert set(entity) == {"text", "label", "start", "end", "score"}
            assert text[entity["start"]:entity["end"]] == entity["text"] and 0.0 < entity["score"] <= 1.0
    words = words_with_offsets(model.preprocessor, TEXTS[3:4], model.continuation_pieces)[0]
    assert [TEXTS[3][start:end] for start, end in zip(words[1], words[2])] == [
        "🎤", "東", "京", "Beyoncé", ",", "Zürich", "!"]


def test_words_are_the_same_for_word_rows_and_for_piece_rows(model):
    """preprocessor_words on a [batch, words, pieces] tokenizer and on a one-row-per-piece one."""
    texts = tf.constant(["Lovelace met Ada.", ""])
    piece_rows = model.preprocessor.module.tokenize_with_offsets(texts)

    class WordRows:  # the same pieces grouped into words, as BertTokenizer returns them
        @staticmethod
        def tokenize_with_offsets(_):
            words = preprocessor_words(model.preprocessor.module, texts, tf.constant(model.continuation_pieces))
            lengths = words["last_piece"] - words["first_piece"] + 1
            per_word = [tf.RaggedTensor.from_row_lengths(part.merge_dims(1, -1).values, lengths) for part in piece_rows]
            return [tf.RaggedTensor.from_value_rowids(part, words["text"], nrows=2) for part in per_word]

    direct = preprocessor_words(model.preprocessor.module, texts, tf.constant(model.continuation_pieces))
    grouped = preprocessor_words(WordRows, texts, tf.constant(model.continuation_pieces))
    assert direct["first_piece"].numpy().tolist() == grouped["first_piece"].numpy().tolist()
    assert direct["last_piece"].numpy().tolist() == grouped["last_piece"].numpy().tolist()
    assert direct["byte_end"].numpy().tolist()[:2] == [8, 12]  # "lovelace" is one word of several pieces


@pytest.mark.slow  # the shared task check: predict, a fit step, config, .keras and serving-export round trips
def test_keras_round_trip_keeps_labels_scheme_and_predictions(model, tmp_path):
    features = model.make_features(TRAIN)
    inputs = features.encoder_inputs()
    loaded = run_task_test(model, inputs, (inputs, features.labels, features.label_weights), tmp_path, {"text": TEXTS},
                           entity_outputs(model.predict_entities(TEXTS)))
    assert (loaded.label_names, loaded.tag_scheme, loaded.max_seq_length, loaded.doc_stride) == (
        LABELS, "IOB2", 16, 6)
    assert_same_entities(loaded.predict_entities(TEXTS), model.predict_entities(TEXTS))


def entity_outputs(found):
    """The serving export's outputs for entities as ``predict_entities`` returns them: padded as NO_ENTITY."""
    width = max(len(row) for row in found)
    outputs = {"num_entities": np.array([len(row) for row in found])}
    for key in ("text", "label", "start", "end", "score"):
        padding = NO_ENTITY[f"entity_{key}"]
        rows = [[entity[key] for entity in row] + [padding] * (width - len(row)) for row in found]
        outputs[f"entity_{key}"] = (np.array([[value.encode() for value in row] for row in rows], dtype=object)
                                    if isinstance(padding, str) else np.array(rows))
    return outputs


def assert_same_entities(found, expected):
    def exact(entities):
        return [[{key: value for key, value in entity.items() if key != "score"} for entity in row] for row in entities]

    assert exact(found) == exact(expected)
    assert [e["score"] for row in found for e in row] == pytest.approx([e["score"] for row in expected for e in row])


def test_bad_labels_and_tags_are_refused():
    with pytest.raises(ValueError, match="must hold 'O'"):
        TokenClassifier(TINY_ENCODER, TINY_PREPROCESSOR, ["B-PER", "I-PER"])
    with pytest.raises(ValueError, match="'S-PER' is not 'O' or B-/I-"):
        TokenClassifier(TINY_ENCODER, TINY_PREPROCESSOR, ["O", "S-PER"], tag_scheme="IOB2")


def test_unknown_tags_and_preprocessors_without_offsets_are_refused(model):
    with pytest.raises(ValueError, match=r"tags \['B-MISC'\] are not among the model's labels"):
        model.make_features([["Ada"]], [["B-MISC"]])
    garden = TokenClassifier(FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, LABELS)
    assert garden.predict_tags([["Ada", "Lovelace"]])[0][0] in LABELS  # given words need no offsets
    with pytest.raises(ValueError, match="has no tokenize_with_offsets"):
        garden.predict_entities(["Ada"])
    with pytest.raises(ValueError, match="has no tokenize_with_offsets"):
        EntityServing(garden)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    return export_for_serving(model, tmp_path_factory.mktemp("served") / "ner")


def test_export_gives_the_entities_of_predict_entities(model, exported):
    outputs = session_predict(exported, {"text": TEXTS})
    expected = model.predict_entities(TEXTS)
    assert outputs["num_entities"].tolist() == [len(found) for found in expected]
    width = max(len(found) for found in expected)
    assert outputs["entity_text"].shape == (len(TEXTS), width)
    for row, found in enumerate(expected):
        for column in range(width):
            got = {key: outputs[f"entity_{key}"][row, column] for key in ("text", "label", "start", "end", "score")}
            if column >= len(found):
                assert (got["text"], got["label"], got["start"], got["end"]) == (b"", b"", -1, -1)
                continue
            want = found[column]
            assert (got["text"].decode(), got["label"].decode(), got["start"], got["end"]) == (
                want["text"], want["label"], want["start"], want["end"])
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)


@pytest.mark.slow  # loads the export in a TF1 session and replays its warmup requests
def test_export_passes_check_serving_and_answers_empty_requests(model, exported):
    report = check_serving(exported, tf_serving_version="2.19")
    assert report.ok, report.format()
    outputs = EntityServing(model).serve(tf.constant([], tf.string))
    assert {key: value.shape.as_list() for key, value in outputs.items()} == {
        "entity_text": [0, 0], "entity_label": [0, 0], "entity_start": [0, 0], "entity_end": [0, 0],
        "entity_score": [0, 0], "num_entities": [0]}


@pytest.mark.slow  # a server thread loading the export
def test_development_server_returns_entities_over_rest(exported):
    with DevelopmentServer(os.path.dirname(exported)) as server:
        [first, empty] = ServingClient(server.url, "ner").predict([{"text": TEXTS[0]}, {"text": ""}])
    assert first["num_entities"] == 2 and first["entity_text"] == ["Ada Lovelace", "Zürich"]
    assert first["entity_label"] == ["PER", "LOC"]
    assert TEXTS[0][first["entity_start"][1]:first["entity_end"][1]] == "Zürich"
    assert empty["num_entities"] == 0 and empty["entity_start"] == [-1, -1]

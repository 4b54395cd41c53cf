"""SpanQuestionAnswerer: training on SQuAD features and answers that are exact context substrings."""

import numpy as np
import pytest

from tests.harness import DATA, FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, TINY_ENCODER, TINY_PREPROCESSOR, run_task_test
from tfhub_llm.readers.squad import read_squad
from tfhub_llm.tasks.question_answering import PreprocessorOffsets, SpanQuestionAnswerer
from tfhub_llm.tasks.squad import squad_evaluate

SQUAD = DATA / "squad" / "train-v2.0-first10articles.json"


@pytest.fixture(scope="module")
def model():
    return SpanQuestionAnswerer(
        TINY_ENCODER, TINY_PREPROCESSOR, max_seq_length=64, doc_stride=32, max_query_length=16,
        version_2_with_negative=True,
    )


def test_character_offsets_survive_accents_cjk_and_emoji(model):
    text = "Beyoncé sang «Halo» in 東京 🎤 today."
    [(ids, starts, ends)] = PreprocessorOffsets(model.preprocessor).tokenize_with_offsets([text])
    assert len(ids) == len(starts) == len(ends) > 0
    pieces = [text[s:e] for s, e in zip(starts, ends)]
    assert "東" in pieces and "«" in pieces and "sang" in pieces
    assert all(0 <= s < e <= len(text) for s, e in zip(starts, ends))


def test_fit_on_squad_lowers_the_loss(model):
    examples = read_squad(SQUAD)[:48]
    features = model.make_features(examples)
    assert features.input_word_ids.shape[1] == 64 and len(features) >= len(examples)
    model.compile(learning_rate=1e-3)
    history = model.fit(model.features_dataset(features, batch_size=16, seed=1), epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_answers_are_exact_substrings_across_windows(model):
    long_context = " ".join(f"Sentence {i} mentions Beyoncé and Zürich." for i in range(40))
    contexts = [long_context, "The capital of France is Paris.", ""]
    answers = model.predict_answers(["Who is mentioned?", "What is the capital?", "Anything?"], contexts)
    assert len(model.make_features(model_examples(contexts))) > len(contexts)  # the long one needs windows
    for answer, context in zip(answers, contexts):
        assert set(answer) == {"answer", "score", "start", "end"}
        if answer["answer"]:
            assert answer["answer"] == context[answer["start"]:answer["end"]]
        else:
            assert answer["start"] == answer["end"] == -1


def model_examples(contexts):
    from tfhub_llm.readers.squad import SquadExample

    return [SquadExample(str(i), "q", context, []) for i, context in enumerate(contexts)]


def test_predict_examples_feeds_the_squad_metric(model):
    dataset_examples = read_squad(SQUAD)[:10]
    answers = model.predict_examples(dataset_examples)
    predictions = {example.qas_id: answer["answer"] for example, answer in zip(dataset_examples, answers)}
    scores = squad_evaluate({"version": "v2.0", "data": _only(dataset_examples)}, predictions)
    assert 0.0 <= scores["exact_match"] <= scores["f1"] <= 100.0 and scores["total"] == 10


def _only(examples):
    return [
        {
            "title": "subset",
            "paragraphs": [
                {
                    "context": example.context,
                    "qas": [
                        {
                            "id": example.qas_id,
                            "question": example.question,
                            "is_impossible": example.is_impossible,
                            "answers": [{"text": t, "answer_start": s} for t, s in example.answers],
                        }
                    ],
                }
                for example in examples
            ],
        }
    ]


@pytest.mark.slow  # the shared task check: predict, a fit step, config, .keras and serving-export round trips
def test_round_trip_keeps_answers(model, tmp_path):
    question, context = ["Who sang?"], ["Beyoncé sang at the show."]
    features = model.make_features(model_examples(context))
    answers = model.predict_answers(question, context)
    served = {"answer": [answer["answer"].encode() for answer in answers], "score": [answer["score"] for answer in answers],
              "start": [answer["start"] for answer in answers], "end": [answer["end"] for answer in answers]}
    restored = run_task_test(model, features.encoder_inputs(), (model.features_dataset(features, batch_size=1),), tmp_path,
                             {"question": question, "context": context}, served)
    assert restored.max_seq_length == 64 and restored.version_2_with_negative
    [restored_answer], [answer] = restored.predict_answers(question, context), model.predict_answers(question, context)
    assert restored_answer.pop("score") == pytest.approx(answer.pop("score"), abs=1e-6)
    assert restored_answer == answer


def test_preprocessor_without_offsets_is_refused_when_the_model_is_made():
    with pytest.raises(ValueError, match="no tokenize_with_offsets"):
        SpanQuestionAnswerer(FIXTURE_ENCODER, FIXTURE_PREPROCESSOR, max_seq_length=32, max_query_length=8)


def test_mismatched_questions_and_contexts(model):
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        model.predict_answers(["a", "b"], ["c"])
    assert np.isfinite(model.predict_answers(["?"], ["   "])[0]["score"])

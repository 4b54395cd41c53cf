"""The data summary every run prints before it trains, for each task (those of whole runs from the CLI's output)."""

import numpy as np
import pytest

from tests.harness import DATA, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm import cli
from tfhub_llm.readers.text_examples import TextExamples
from tfhub_llm.layers.hub_layers import HubPreprocessor
from tfhub_llm.training.data_summary import summarize_text_examples, summarize_text_pairs


@pytest.fixture(scope="module")
def preprocessor():
    return HubPreprocessor(TINY_PREPROCESSOR, seq_length=8)


def _examples(labels, label_names=None, texts_b=None):
    texts = ["a film", "a gripping and beautifully acted film about a lighthouse keeper", "dull", "fine"]
    return TextExamples(texts=texts[: len(labels)], texts_b=texts_b, labels=np.asarray(labels),
                        label_names=label_names, path="train.tsv")


def test_counts_labels_and_word_pieces_against_the_packed_length(preprocessor):
    train = _examples([1, 0, 0, 1], ["negative", "positive"])
    summary = summarize_text_examples(train, _examples([0]), preprocessor, "10% of the rows held out")
    lines = summary.splitlines()
    assert lines[0] == "data: 4 training and 1 validation examples (10% of the rows held out), from train.tsv"
    assert lines[1] == "labels: negative 2 (50%), positive 2 (50%)"
    longest = int(preprocessor.token_ids(train.texts[1:2]).row_lengths().numpy()[0]) + 2
    assert f"longest {longest}; packed to at most 8, so 25.0% are cut" in lines[2]
    assert len(lines) == 3


def test_regression_targets_and_pairs(preprocessor):
    train = _examples(np.array([0.5], np.float32), texts_b=["x"])
    summary = summarize_text_examples(train, train, preprocessor, "validation from dev.tsv")
    assert "regression targets from 0.5 to 0.5" in summary
    assert "median 6," in summary  # "a film" + "x": 2 + 1 word pieces, [CLS] and two [SEP]


def test_positive_pairs_count_their_distinct_second_texts(preprocessor):
    train = _examples([0, 1, 0], texts_b=["a film", "dull", "a film"])
    summary = summarize_text_pairs(train, train, preprocessor, "validation from dev.tsv", scored=False).splitlines()
    assert summary[0] == "data: 3 training and 3 validation pairs (validation from dev.tsv), from train.tsv"
    assert summary[1].startswith("pairs: every pair positive, 2 distinct second texts")
    longest = int(preprocessor.token_ids(train.texts[1:2]).row_lengths().numpy()[0]) + 2  # each text on its own
    assert summary[2].startswith("word pieces per text (with [CLS]/[SEP]): median 4, ")  # "a film" 3 times of 6
    assert summary[2].endswith(f"longest {longest}; packed to at most 8, so 16.7% are cut")


def finetune(capsys, task, *options):
    """The three lines ``tfhub-llm finetune TASK`` (tiny model, one epoch) prints first: the data's summary."""
    assert cli.main(["finetune", task, "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR, "--epochs", "1",
                     *map(str, options)]) == 0
    return capsys.readouterr().out.splitlines()[:3]


@pytest.mark.slow  # a whole run
def test_question_answering_run_summarizes_answerable_and_unanswerable_questions(tmp_path, capsys):
    squad = DATA / "squad" / "train-v2.0-first10articles.json"
    data, questions, lengths = finetune(capsys, "qa", "--train", squad, "--out", tmp_path / "qa", "--max-seq-length", 64,
                                        "--doc-stride", 32, "--max-query-length", 16, "--max-train-examples", 40,
                                        "--max-validation-examples", 4, "--batch-size", 8)
    assert data == f"data: 40 training and 4 validation questions (the last 1 of its articles held out), from {squad}"
    answerable, unanswerable = (int(part.split()[1]) for part in questions.removeprefix("questions: ").split(", "))
    assert questions.startswith("questions: answerable ") and "unanswerable" in questions
    assert answerable + unanswerable == 40 and unanswerable > 0
    assert lengths.startswith("word pieces per question with its context") and "windows of 64, so " in lengths


@pytest.mark.slow  # a whole run
def test_token_classifier_run_summarizes_sentences_and_tag_counts(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text('{"tokens": ["Ada", "Lovelace", "wrote"], "tags": ["B-PER", "I-PER", "O"]}\n'
                     '{"tokens": ["Paris"], "tags": ["B-LOC"]}\n', encoding="utf-8")
    data, tags, lengths = finetune(capsys, "ner", "--train", train, "--validation", train, "--out", tmp_path / "ner",
                                   "--max-seq-length", 16, "--batch-size", 2)
    assert data == f"data: 2 training and 2 validation sentences (validation from {train}), from {train}"
    assert tags == "tags of the 4 words: O 1 (25%), B-LOC 1 (25%), B-PER 1 (25%), I-PER 1 (25%)"
    assert lengths.startswith("word pieces per sentence (with [CLS]/[SEP]): ") and lengths.endswith("windows of 16")


@pytest.mark.slow  # a whole run
def test_embedder_run_summarizes_its_scored_pairs(tmp_path, capsys):
    pairs = tmp_path / "sts.tsv"
    pairs.write_text("s1\ts2\tscore\na plane takes off\tan air plane is taking off\t5\n"
                     "a man smokes\ta man skates\t0.5\na cat sleeps\ta dog barks\t1\n", encoding="utf-8")
    data, scores, lengths = finetune(capsys, "embed", "--train", pairs, "--validation", pairs, "--text-column", "s1",
                                     "--text-b-column", "s2", "--score-column", "score", "--max-score", 5,
                                     "--seq-length", 16, "--batch-size", 3, "--out", tmp_path / "embed")
    assert data == f"data: 3 training and 3 validation pairs (validation from {pairs}), from {pairs}"
    assert scores == "pairs: scores from 0.1 to 1, median 0.2, mean 0.433333"
    assert lengths.startswith("word pieces per text (with [CLS]/[SEP]): ") and lengths.endswith("packed to at most 16")

"""finetune_embedder and ``tfhub-llm finetune embed``: scored pairs and positive pairs, run outputs, bad input."""

import json
import os

import keras
import numpy as np
import pytest

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm import DataError, HubEncoder, TextEmbedder, TrainingOptions, cli, finetune_embedder
from tfhub_llm.training.run import RunDirectoryError

SCORED = [
    ("A plane is taking off.", "An air plane is taking off.", 5.0),
    ("A man is playing a large flute.", "A man is playing a flute.", 3.8),
    ("Three men are playing chess.", "Two men are playing chess.", 2.6),
    ("A man is playing the cello.", "A man seated is playing the cello.", 4.25),
    ("Some men are fighting.", "Two men are fighting.", 4.25),
    ("A man is smoking.", "A man is skating.", 0.5),
    ("The man is playing the piano.", "The man is playing the guitar.", 1.6),
    ("A woman is dancing.", "A man is talking.", 0.0),
    ("A cat is sleeping.", "A dog is barking.", 0.4),
    ("Kids are playing soccer.", "Children play football.", 4.6),
]
POSITIVES = [
    ("Who wrote the first program?", "Ada Lovelace wrote the first computer program."),
    ("When did the meeting end?", "The meeting ended shortly after noon."),
    ("Where is Paris?", "Paris is the capital of France."),
    ("What do cats eat?", "Cats eat fish and meat."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("What is the capital of France?", "Paris is the capital of France."),  # shares its passage
]
TRAINING = dict(seq_length=16, options=TrainingOptions(epochs=1, batch_size=4, verbose=0))


def _write_tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows))
    return path


def _encoder():
    return HubEncoder(TINY_ENCODER, trainable=True, micro_batches=1)  # one encoder call per step to trace


def test_scored_pairs_run_writes_the_embedder_and_its_similarity_figures(tmp_path):
    train = _write_tsv(tmp_path / "sts.tsv", ["sentence1", "sentence2", "score"], SCORED)
    result = finetune_embedder(_encoder(), TINY_PREPROCESSOR, train, tmp_path / "run", text_column="sentence1",
                               text_b_column="sentence2", score_column="score", max_score=5, validation_fraction=0.4,
                               **TRAINING)
    assert sorted(os.listdir(tmp_path / "run")) == ["best.keras", "history.json", "metrics.json", "model.keras"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics == result.metrics and metrics["validation_pairs"] == 4
    assert -100 <= metrics["validation_spearman"] <= 100 and -100 <= metrics["validation_pearson"] <= 100
    assert metrics["validation_loss"] >= 0 and len(result.history["loss"]) == 1
    assert result.validation_examples.labels.max() <= 1.0  # scores were scaled to [0, 1]
    loaded = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert isinstance(loaded, TextEmbedder)
    assert isinstance(keras.models.load_model(tmp_path / "run" / "best.keras"), TextEmbedder)
    texts = [text for text, _, _ in SCORED[:3]]
    np.testing.assert_allclose(loaded.embed(texts), result.model.embed(texts), atol=1e-6)


def test_positive_pairs_run_reports_retrieval_of_the_validation_passages(tmp_path):
    train = _write_tsv(tmp_path / "train.tsv", ["question", "passage"], POSITIVES)
    validation = _write_tsv(tmp_path / "dev.tsv", ["question", "passage"], POSITIVES[2:])
    result = finetune_embedder(_encoder(), TINY_PREPROCESSOR, train, tmp_path / "run", text_column="question",
                               text_b_column="passage", validation_file=validation, **TRAINING)
    metrics = result.metrics
    assert metrics["validation_queries"] == 4
    assert 0 <= metrics["validation_recall@1"] <= metrics["validation_recall@5"] == 100.0  # 3 passages only
    assert 100 / 3 <= metrics["validation_mrr"] <= 100
    # The two questions about Paris share one passage id, so neither is the other's negative.
    assert list(result.validation_examples.labels) == [0, 1, 2, 0]


def test_bad_scores_and_unresumed_runs_are_refused_before_training(tmp_path):
    train = _write_tsv(tmp_path / "sts.tsv", ["sentence1", "sentence2", "score"], SCORED)
    with pytest.raises(DataError, match=r"sts.tsv: example 1: field 'score': score 5 / max_score 1 is outside"
                                        r" \[-1, 1\].*--max-score 5"):
        finetune_embedder(TINY_ENCODER, TINY_PREPROCESSOR, train, tmp_path / "run", text_column="sentence1",
                          text_b_column="sentence2", score_column="score")
    (tmp_path / "old" / "backup").mkdir(parents=True)
    with pytest.raises(RunDirectoryError, match="holds an interrupted run"):
        finetune_embedder(TINY_ENCODER, TINY_PREPROCESSOR, train, tmp_path / "old", text_column="sentence1",
                          text_b_column="sentence2", score_column="score", max_score=5, validation_fraction=0.4)
    with pytest.raises(DataError, match="1 validation pair; a correlation needs at least 2"):
        finetune_embedder(TINY_ENCODER, TINY_PREPROCESSOR, train, tmp_path / "run", text_column="sentence1",
                          text_b_column="sentence2", score_column="score", max_score=5, validation_file=_write_tsv(
                              tmp_path / "dev.tsv", ["sentence1", "sentence2", "score"], SCORED[:1]))
    assert not (tmp_path / "run").exists()


def test_cli_bad_score_exits_2_with_one_line(tmp_path, capsys):
    train = _write_tsv(tmp_path / "sts.tsv", ["sentence1", "sentence2", "score"], SCORED)
    code = cli.main(["finetune", "embed", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                     "--train", str(train), "--text-column", "sentence1", "--text-b-column", "sentence2",
                     "--score-column", "score", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "sts.tsv: example 1: field 'score'" in error and "--max-score 5" in error
    assert not (tmp_path / "run").exists()


def test_cli_export_text_embedding_of_another_model_exits_2_with_one_line(tmp_path, capsys):
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.save(tmp_path / "model.keras")
    code = cli.main(["export", "text-embedding", str(tmp_path / "model.keras"), str(tmp_path / "hub")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "export_text_embedding takes a TextEmbedder" in error and "got Sequential" in error
    assert not (tmp_path / "hub").exists()


@pytest.mark.slow  # traces the full model (micro-batches by length) twice over
def test_cli_finetune_embed_then_export_text_embedding(tmp_path, capsys):
    train = _write_tsv(tmp_path / "sts.tsv", ["sentence1", "sentence2", "score"], SCORED)
    model = ["--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR]
    validation = _write_tsv(tmp_path / "dev.tsv", ["sentence1", "sentence2", "score"], SCORED[:4])
    assert cli.main(["finetune", "embed", *model, "--train", str(train), "--validation", str(validation),
                     "--text-column", "sentence1",
                     "--text-b-column", "sentence2", "--score-column", "score", "--max-score", "5", "--epochs", "1",
                     "--batch-size", "4", "--seq-length", "16", "--out", str(tmp_path / "run")]) == 0
    assert '"validation_spearman"' in capsys.readouterr().out
    assert cli.main(["export", "text-embedding", str(tmp_path / "run" / "model.keras"), str(tmp_path / "hub")]) == 0
    assert (tmp_path / "hub" / "saved_model.pb").is_file()

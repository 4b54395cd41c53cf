"""Smoke tests of examples/: each script runs as a user runs it, on the tiny model and a handful of examples.

``examples/distributed_fit.py`` is exercised by tests/training/test_distribute.py, which also checks its result.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.harness import (
    EXAMPLE_TIMEOUT_SECONDS,
    MINILM_ENCODER,
    REPO,
    TINY_ENCODER,
    TINY_PREPROCESSOR,
    run_example,
    run_ok,
)

TINY_MODEL = ["--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR]
TINY_TRAINING = [*TINY_MODEL, "--max-examples", "32", "--epochs", "1", "--batch-size", "16", "--seq-length", "32"]

pytestmark = pytest.mark.slow  # each starts TensorFlow in a new process and traces a model


def test_classify_text(tmp_path):
    output = run_ok("classify_text", *TINY_TRAINING, "--validation-examples", "16", "--out", tmp_path)
    assert "held-out accuracy" in output and "P(positive)" in output
    metrics = json.loads((tmp_path / "classify_text" / "metrics.json").read_text())
    assert metrics["train_examples"] == 32 and metrics["validation_examples"] == 16
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0
    assert len(metrics["predictions"]) == 4
    assert all(0.0 <= prediction["positive"] <= 1.0 for prediction in metrics["predictions"])


def test_keras_layer_tutorial_trains_exports_and_serves_raw_strings(tmp_path):
    output = run_ok("keras_layer_tutorial", *TINY_TRAINING, "--validation-examples", "16", "--out", tmp_path)
    assert "held-out: loss" in output and "reloaded" in output
    metrics = json.loads((tmp_path / "keras_layer_tutorial" / "metrics.json").read_text())
    assert metrics["train_examples"] == 32 and 0.0 <= metrics["validation_accuracy"] <= 1.0
    assert metrics["max_reloaded_difference"] < 1e-5 and len(metrics["reloaded_results"]) == 5
    assert (tmp_path / "keras_layer_tutorial" / "saved_model" / "saved_model.pb").is_file()


def test_on_device(tmp_path):
    output = run_ok("on_device", *TINY_TRAINING, "--validation-examples", "16", "--out", tmp_path)
    metrics = json.loads((tmp_path / "on_device" / "metrics.json").read_text())
    assert metrics["float32"]["agreement_with_keras"] == 1.0 and metrics["int8"]["size_mb"] < metrics["float32"]["size_mb"]
    assert "batch-1 latency" in output and (tmp_path / "on_device" / "int8.tflite").is_file()


def test_sentence_pairs_on_mrpc_format_pairs(tmp_path):
    mrpc_format = REPO / "tests" / "fixtures" / "data" / "pairs_mrpc_format.tsv"  # GLUE's MRPC is not shipped
    output = run_ok("sentence_pairs", *TINY_TRAINING, "--max-examples", "6", "--validation-examples", "2",
                    "--data", mrpc_format, "--out", tmp_path)
    assert "always answering the majority class" in output
    metrics = json.loads((tmp_path / "sentence_pairs" / "metrics.json").read_text())
    assert metrics["task"] == "mrpc" and metrics["train_examples"] == 6
    assert 0.0 <= metrics["validation_accuracy"] <= 1.0 and 0.5 <= metrics["majority_class_accuracy"] <= 1.0


def test_squad_qa_scores_held_out_articles_against_the_baseline(tmp_path):
    output = run_ok("squad_qa", *TINY_TRAINING, "--seq-length", "64", "--doc-stride", "32",
                    "--max-query-length", "16", "--eval-examples", "12", "--out", tmp_path)
    assert "first-sentence baseline" in output
    metrics = json.loads((tmp_path / "squad_qa" / "metrics.json").read_text())
    assert metrics["train_questions"] == 32 and metrics["eval_questions"] == 12
    assert metrics["train_windows"] >= 32
    for scores in (metrics["model"], metrics["first_sentence_baseline"]):
        assert scores["total"] == 12 and 0.0 <= scores["exact_match"] <= scores["f1"] <= 100.0


def test_fill_mask_ranks_tokens_for_every_mask(tmp_path):
    output = run_ok("fill_mask", "--top-k", 3, "--out", tmp_path)
    assert "mask 1:" in output and "mask 2:" in output
    result = json.loads((tmp_path / "fill_mask" / "predictions.json").read_text())
    assert len(result["masks"]) == 2
    with open(os.path.join(TINY_ENCODER, "assets", "vocab.txt"), encoding="utf-8") as file:
        vocabulary = {line.rstrip("\n") for line in file}
    for mask in result["masks"]:
        probabilities = [candidate["probability"] for candidate in mask["candidates"]]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert all(candidate["token"] in vocabulary for candidate in mask["candidates"])
    assert result["masks"][0]["position"] < result["masks"][1]["position"]


def test_fill_mask_refuses_an_encoder_without_mlm_head(tmp_path):
    code, output = run_example("fill_mask", "--encoder", MINILM_ENCODER, "--out", tmp_path)
    assert code != 0 and "has no 'mlm' sub-object" in output
    assert not (tmp_path / "fill_mask").exists()


def test_export_and_serve_answers_over_rest_like_model_predict(tmp_path):
    output = run_ok("export_and_serve", *TINY_TRAINING, "--out", tmp_path)
    assert "check-serving:" in output and "predict (REST):" in output
    metrics = json.loads((tmp_path / "export_and_serve" / "metrics.json").read_text())
    assert metrics["check_serving_ok"] is True
    assert os.path.isfile(os.path.join(metrics["export_dir"], "saved_model.pb"))
    assert os.path.basename(metrics["export_dir"]) == "1"
    assert len(metrics["rest_predictions"]) == 2 and metrics["max_difference_to_model_predict"] < 1e-5


def test_publish_to_hub_reloads_the_fine_tuned_encoder_over_http(tmp_path):
    output = run_ok("publish_to_hub", *TINY_TRAINING, "--learning-rate", "1e-3", "--out", tmp_path)
    assert "hub.load('http://127.0.0.1:" in output
    metrics = json.loads((tmp_path / "publish_to_hub" / "metrics.json").read_text())
    archive = tmp_path / "publish_to_hub" / "hub" / "sst2-encoder" / "1"
    assert metrics["archive"] == str(archive) and archive.is_file()
    assert (archive.parent / "1.sha256").read_text().split()[0] == metrics["sha256"]
    assert metrics["max_difference_to_fine_tuned"] < 1e-4
    assert metrics["max_change_by_fine_tuning"] > 100 * metrics["max_difference_to_fine_tuned"]
    assert any((tmp_path / "publish_to_hub" / "tfhub_cache").iterdir())


def test_every_example_documents_itself_and_has_help():
    for script in sorted((REPO / "examples").glob("*.py")):
        if script.name == "common.py":
            continue
        source = script.read_text()
        assert source.startswith('"""') and ".venv/bin/python examples/" in source, script.name
        completed = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                   timeout=EXAMPLE_TIMEOUT_SECONDS, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert completed.returncode == 0 and "--out" in completed.stdout and "--encoder" in completed.stdout, script.name


def test_semantic_search_scores_retrieval_before_and_after_fine_tuning(tmp_path):
    output = run_ok("semantic_search", *TINY_TRAINING, "--eval-questions", "16", "--out", tmp_path)
    assert "before fine-tuning: recall@1" in output and "after fine-tuning:  recall@1" in output
    metrics = json.loads((tmp_path / "semantic_search" / "metrics.json").read_text())
    assert metrics["train_pairs"] == 32 and metrics["eval_questions"] == 16 and metrics["corpus_paragraphs"] > 1
    for scores in (metrics["before"], metrics["after"]):
        assert scores["queries"] == 16 and 0 <= scores["recall@1"] <= scores["recall@5"] <= 100
        assert 0 < scores["mrr"] <= 100


def test_embed_corpus_embeds_paragraphs_with_beam_and_searches_them(tmp_path):
    pytest.importorskip("apache_beam", reason="the beam extra is not installed")
    output = run_ok("embed_corpus", *TINY_MODEL, "--max-paragraphs", "12", "--seq-length", "64", "--out", tmp_path,
                    "--direct_running_mode=in_memory", "--direct_num_workers=1")
    assert "12 rows read, 12 scored, 0 failed" in output and "search: " in output
    metrics = json.loads((tmp_path / "embed_corpus" / "metrics.json").read_text())
    assert metrics["paragraphs"] == 12 and metrics["rows_scored"] == 12 and metrics["questions"] > 12
    assert 0 <= metrics["recall@1"] <= metrics["recall@5"] <= 100

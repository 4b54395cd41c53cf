"""Classification runs: their outputs, and data errors that stop a run before training."""

import json
import os

import pytest

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR
from tests.training.tiny_runs import SST2, TINY_RUN, classify
from tfhub_llm.errors import DataError
from tfhub_llm.training.classifier import evaluate_classifier, finetune_classifier


def test_classifier_run_writes_model_history_and_metrics(tmp_path):
    result = classify(tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == ["best.keras", "history.json", "metrics.json", "model.keras"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics) == {"validation_loss", "validation_accuracy", "validation_f1", "validation_auc"}
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())["loss"]) == 2
    assert len(result.validation_examples) == 16
    evaluated = evaluate_classifier(result.model_path, SST2, text_column="text", label_column="label")
    assert 0.0 <= evaluated["accuracy"] <= 1.0


def test_data_errors_stop_the_run_before_training(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\ngood film\t1\nbad film\t7\n")
    with pytest.raises(DataError, match=r"bad\.tsv: line 3: field 'label'"):
        finetune_classifier(TINY_ENCODER, TINY_PREPROCESSOR, bad, str(tmp_path / "run"), text_column="text",
                            label_column="label", num_classes=2, options=TINY_RUN)
    assert not (tmp_path / "run").exists()

"""Question answering runs: held-out articles, SQuAD metrics and the first-sentence baseline."""

import json

from tests.harness import DATA, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.training.options import TrainingOptions
from tfhub_llm.training.question_answering import finetune_question_answering


def test_question_answering_run_reports_squad_metrics_and_baseline(tmp_path):
    result = finetune_question_answering(
        TINY_ENCODER, TINY_PREPROCESSOR, DATA / "squad" / "train-v2.0-first10articles.json", str(tmp_path / "qa"),
        max_seq_length=96, doc_stride=48, max_query_length=16,
        options=TrainingOptions(max_train_examples=24, max_validation_examples=8, epochs=1, batch_size=8, verbose=0),
    )
    metrics = json.loads((tmp_path / "qa" / "metrics.json").read_text())
    assert {"exact_match", "f1", "baseline_exact_match", "baseline_f1", "validation_loss"} <= set(metrics)
    assert metrics["total"] == 8
    held_out_titles = {example.qas_id for example in result.validation_examples}
    assert len(held_out_titles) == 8

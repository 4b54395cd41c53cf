"""NER runs: ``finetune_token_classifier`` / ``evaluate_token_classifier`` in process, and (slow) the command line
``finetune ner`` → ``export serving`` → ``check-serving`` → ``evaluate ner``, its bad-input paths, and the example.

The CoNLL snippets are written here by hand (CoNLL-2003 itself may not be vendored).
"""

import dataclasses
import json

import pytest

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR, assert_one_line_error, cli_command, run_cli, run_ok
from tfhub_llm.errors import DataError
from tfhub_llm.training.options import TrainingOptions
from tfhub_llm.training.run import RunDirectoryError
from tfhub_llm.training.token_classifier import evaluate_token_classifier, finetune_token_classifier

PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Marie Curie"]
PLACES = ["London", "Paris", "Zürich", "Vienna"]
QUIET = TrainingOptions(epochs=1, verbose=0)


def conll_documents(count):
    """``count`` small documents: names, places and an organisation in a few sentence patterns."""
    lines = []
    for index in range(count):
        first, last = PEOPLE[index % 4].split()
        place = PLACES[(index // 2) % 4]
        lines += ["-DOCSTART- -X- O", "", f"{first} NNP B-PER", f"{last} NNP I-PER", "visited VBD O",
                  f"{place} NNP B-LOC", ". . O", "", "the DT O", "Royal NNP B-ORG", "Society NNP I-ORG",
                  "wrote VBD O", "to TO O", f"{last} NNP B-PER", "", ""]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner_data")
    (folder / "train.txt").write_text(conll_documents(10), encoding="utf-8")
    (folder / "dev.jsonl").write_text(
        '{"tokens": ["Marie", "Curie", "visited", "Vienna"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}\n',
        encoding="utf-8")
    return folder


@pytest.mark.slow  # a whole run: fit, two saved .keras files, a reload
def test_run_holds_out_documents_and_writes_entity_metrics(data, tmp_path):
    out = tmp_path / "run"
    result = finetune_token_classifier(TINY_ENCODER, TINY_PREPROCESSOR, data / "train.txt", out, validation_fraction=0.2,
                                       max_seq_length=32, options=dataclasses.replace(QUIET, batch_size=8, learning_rate=1e-3))
    assert len(result.validation_examples) == 4  # 2 of 10 documents, 2 sentences each
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("validation_loss", "validation_accuracy", "entity_f1", "entity_precision", "entity_recall",
                "baseline_entity_f1"):
        assert 0.0 <= metrics[key] <= (100.0 if "entity" in key else 1e3), key
    assert metrics["baseline_type"] == "PER" and metrics["sentences"] == 4
    assert set(metrics["entity_per_type"]) <= {"PER", "LOC", "ORG"}
    assert (out / "model.keras").is_file()
    again = evaluate_token_classifier(str(out / "model.keras"), data / "dev.jsonl")
    assert again["sentences"] == 1 and 0.0 <= again["entity_f1"] <= 100.0 and "baseline_entity_f1" not in again
    with pytest.raises(DataError, match=r"line 1: field 'tags': item 1: tag 'I-LOC' is not one of the model's labels"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"tokens": ["a", "b"], "tags": ["O", "I-LOC"]}\n', encoding="utf-8")
        evaluate_token_classifier(result.model, bad)


def test_an_interrupted_run_needs_resume(data, tmp_path):
    (tmp_path / "run" / "backup").mkdir(parents=True)
    with pytest.raises(RunDirectoryError, match="--resume"):
        finetune_token_classifier(TINY_ENCODER, TINY_PREPROCESSOR, data / "train.txt", tmp_path / "run", options=QUIET)


def test_validation_tags_unknown_to_training_stop_the_run_before_it_starts(data, tmp_path):
    dev = tmp_path / "dev.txt"
    dev.write_text("Ada B-PER\nLovelace I-PER\n\nACME B-MISC\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev.txt: line 4: field 'tag': tag 'B-MISC'"):
        finetune_token_classifier(TINY_ENCODER, TINY_PREPROCESSOR, data / "train.txt", tmp_path / "run",
                                  validation_file=dev, options=QUIET)
    assert not (tmp_path / "run").exists()


def test_training_data_without_entities_stops_the_run_before_it_starts(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("the O\nend O\n\n-DOCSTART- O\n\nonly O\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train.txt: field 'tag': the training sentences hold no entity"):
        finetune_token_classifier(TINY_ENCODER, TINY_PREPROCESSOR, train, tmp_path / "run", validation_fraction=0.5,
                                  options=QUIET)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # four subprocesses, each importing TensorFlow
def test_command_line_finetunes_exports_checks_and_evaluates(data, tmp_path):
    out, served = tmp_path / "ner", tmp_path / "served" / "ner"
    finetune = run_cli(cli_command("finetune", "ner", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                             "--train", data / "train.txt", "--validation", data / "dev.jsonl", "--out", out,
                             "--epochs", 1, "--batch-size", 8, "--max-seq-length", 32))
    assert finetune.returncode == 0, finetune.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["sentences"] == 1
    export = run_cli(cli_command("export", "serving", out / "model.keras", served))
    assert export.returncode == 0, export.stderr[-3000:]
    check = run_cli(cli_command("check-serving", served / "1"))
    assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr[-3000:]
    evaluate = run_cli(cli_command("evaluate", "ner", out / "model.keras", "--data", data / "dev.jsonl"))
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert 0.0 <= json.loads(evaluate.stdout)["entity_f1"] <= 100.0


@pytest.mark.slow  # a subprocess importing TensorFlow
def test_command_line_reports_a_malformed_conll_line_in_one_line(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("Ada NNP B-PER\nLovelace I-PER\n", encoding="utf-8")
    command = cli_command("finetune", "ner", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                       "--train", train, "--out", tmp_path / "out")
    assert_one_line_error(run_cli(command), "finetune", ["train.txt", "line 2", "has 2 columns but line 1 has 3"])
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # runs the example in a new process
def test_named_entities_example_scores_held_out_documents(data, tmp_path):
    output = run_ok("named_entities", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                    "--train", data / "train.txt", "--held-out-fraction", "0.2", "--max-examples", "16",
                    "--epochs", "1", "--batch-size", "8", "--seq-length", "32", "--out", tmp_path)
    assert "held-out entity F1" in output and "capitalised words as PER" in output
    metrics = json.loads((tmp_path / "named_entities" / "metrics.json").read_text())
    assert metrics["train_sentences"] == 16 and metrics["eval_sentences"] == 4
    for prediction in metrics["predictions"]:
        for entity in prediction["entities"]:
            assert prediction["text"][entity["start"]:entity["end"]] == entity["text"]

"""The ``tfhub-llm`` command: help of every subcommand, ``inspect``, ``scan``, and its bad-input paths.

Bad input (a malformed data file, a missing handle) must end with exit code 2 and one line on
stderr naming the file, the line or record, and the field (or the handle): no traceback, and no
model written. Each subprocess run pays for importing TensorFlow (about 8 s), so help is checked in
process and the runs are few.
"""

import os
import argparse
import json
import sys

import pytest

from tests.harness import (
    FIXTURE_ENCODER,
    TINY_ENCODER,
    TINY_PREPROCESSOR,
    assert_one_line_error,
    cli_command,
    run_cli,
    save_hand_made_encoder,
    writes_file,
)
from tfhub_llm import cli

TSV = "text\tlabel\na gripping film\tpositive\na dull film\tnegative\nfine acting\tpositive\n"
SQUAD_CONTEXT = "Ada Lovelace wrote the first program."


def _squad(answer_start):
    """Two articles; the second (held out for validation) has an answer at ``answer_start``."""
    def article(title, questions):
        return {"title": title, "paragraphs": [{"context": SQUAD_CONTEXT, "qas": questions}]}
    return json.dumps({"version": "v2.0", "data": [
        article("Ada", [{"id": "q1", "question": "Who wrote it?", "answers": [{"text": "Ada", "answer_start": 0}]}]),
        article("Lovelace", [{"id": "q2", "question": "What did she write?",
                              "answers": [{"text": "the first program", "answer_start": answer_start}]}]),
    ]})


COLUMNS = ["--text-column", "text", "--label-column", "label"]
# name: (files to write, arguments after the subcommand, what the one error line must name)
BAD_INPUTS = {
    "missing_column": (
        {"train.tsv": TSV},
        ["classify", "--train", "@train.tsv", "--text-column", "sentence", "--label-column", "label"],
        ["train.tsv", "line 1", "'sentence'", "no such column"]),
    "label_outside_label_set": (
        {"train.tsv": TSV, "dev.tsv": "text\tlabel\nok\tpositive\nmeh\tneutral\n"},
        ["classify", "--train", "@train.tsv", "--validation", "@dev.tsv", *COLUMNS],
        ["dev.tsv", "line 3", "'label'", "'neutral'", "not in the label set"]),
    "nan_label": (
        {"train.jsonl": '{"text": "a gripping film", "label": 1}\n{"text": "a dull film", "label": NaN}\n'},
        ["classify", "--train", "@train.jsonl", *COLUMNS],
        ["train.jsonl", "line 2", "'label'", "NaN"]),
    "empty_file": (
        {"train.csv": ""}, ["classify", "--train", "@train.csv", *COLUMNS],
        ["train.csv", "is empty"]),
    "squad_answer_start_misses_the_answer": (
        {"train.json": _squad(answer_start=5)}, ["qa", "--train", "@train.json"],
        ["train.json", "article 1 ('Lovelace')", "question id 'q2'", "answer 0", "'answer_start'",
         "the first program"]),
}


def _finetune_command(folder, task_arguments, encoder=TINY_ENCODER):
    """``finetune TASK`` on the tiny model, each ``@file`` argument replaced by that file's path in ``folder``."""
    task, *options = [folder / argument[1:] if argument.startswith("@") else argument for argument in task_arguments]
    return cli_command("finetune", task, "--encoder", encoder, "--preprocessor", TINY_PREPROCESSOR, *options,
                    "--out", folder / "out", "--epochs", 1)


def _write_files(folder, files):
    folder.mkdir()
    for file_name, content in files.items():
        (folder / file_name).write_text(content, encoding="utf-8")


@pytest.mark.slow  # each run imports TensorFlow
@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_malformed_data_exits_2_with_one_line_and_writes_nothing(tmp_path, name):
    files, task_arguments, expected_parts = BAD_INPUTS[name]
    _write_files(tmp_path / name, files)
    result = run_cli(_finetune_command(tmp_path / name, task_arguments))
    assert_one_line_error(result, "finetune", expected_parts)
    assert not (tmp_path / name / "out").exists(), "the run wrote into --out before its data was checked"


@pytest.mark.slow
def test_missing_handle_exits_2_naming_it_and_writes_nothing(tmp_path):
    _write_files(tmp_path / "run", {"train.tsv": TSV})
    result = run_cli(_finetune_command(tmp_path / "run", ["classify", "--train", "@train.tsv", "--validation",
                                                       "@train.tsv", *COLUMNS], encoder=tmp_path / "no_such_encoder"))
    assert_one_line_error(result, "finetune", ["no_such_encoder", "does not exist"])
    assert not (tmp_path / "run" / "out").exists()


@pytest.mark.slow
def test_installed_command_inspects_the_model_garden_encoder():
    result = run_cli([os.path.join(os.path.dirname(sys.executable), "tfhub-llm"), "inspect", FIXTURE_ENCODER])
    assert result.returncode == cli.EXIT_OK, result.stderr[-3000:]
    assert "BERT encoder" in result.stdout


@pytest.mark.slow
def test_scan_passes_a_clean_model_and_refuses_one_that_writes_files(tmp_path):
    clean = run_cli(cli_command("scan", FIXTURE_ENCODER))
    assert clean.returncode == cli.EXIT_OK, clean.stderr[-3000:]
    assert "allow-list" in clean.stdout
    writer = save_hand_made_encoder(str(tmp_path / "writes_file"), writes_file(str(tmp_path / "written.txt")))
    refused = run_cli(cli_command("scan", writer))
    assert refused.returncode == cli.EXIT_CHECK_FAILED, refused.stderr[-3000:]
    assert "WriteFile" in refused.stdout and "__call__" in refused.stdout
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "written.txt").exists()


def _subcommand_paths(parser, prefix=()):
    """Every command path of the parser: (), ("inspect",), ("finetune",), ("finetune", "classify"), ..."""
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _subcommand_paths(subparser, (*prefix, name))


def test_help_of_every_subcommand_exits_0(capsys):
    paths = list(_subcommand_paths(cli.build_parser()))
    assert ("export", "serving") in paths and ("finetune", "qa") in paths and len(paths) >= 15
    for path in paths:
        with pytest.raises(SystemExit) as exited:
            cli.main([*path, "--help"])
        assert exited.value.code == 0, path
        assert f"usage: {' '.join(('tfhub-llm', *path))}" in capsys.readouterr().out, path


def test_finetune_flags_become_the_tasks_training_options():
    from tfhub_llm.cli.options import training_options
    from tfhub_llm.training.options import EMBEDDER_TRAINING, QUESTION_ANSWERING_TRAINING, TrainingOptions

    handles = ["--encoder", "E", "--preprocessor", "P", "--train", "T", "--out", "O"]
    parser = cli.build_parser()
    assert training_options(parser.parse_args(["finetune", "qa", *handles])) == QUESTION_ANSWERING_TRAINING
    embed = parser.parse_args(["finetune", "embed", *handles, "--text-column", "a", "--text-b-column", "b",
                               "--epochs", "3", "--max-train-examples", "10", "--resume"])
    assert training_options(embed) == TrainingOptions(epochs=3, learning_rate=EMBEDDER_TRAINING.learning_rate,
                                                      max_train_examples=10, resume=True)
    assert TrainingOptions(epochs=3, batch_size=16).train_steps(33) == 9  # ceil(33 / 16) batches per epoch


def test_options_a_command_does_not_know_are_refused_but_batch_hands_them_to_beam(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["scan", "some/model", "--direct_num_workers=2"])
    assert exited.value.code == cli.EXIT_BAD_INPUT
    assert "unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err
    args, extra = cli.build_parser().parse_known_args(["batch", "E/1", "in.jsonl", "out", "--text-column", "review",
                                                       "--project", "p", "--direct_num_workers=2"])
    assert args.takes_extra_options and args.text_column == "review" and extra == ["--project", "p", "--direct_num_workers=2"]


def test_batch_without_the_beam_extra_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as if the beam extra were not installed
    for module in ("tfhub_llm.batch.pipeline", "tfhub_llm.batch.handler"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    assert cli.main(["batch", "served/1", "in.jsonl", "out"]) == cli.EXIT_BAD_INPUT
    error = capsys.readouterr().err
    assert 'tfhub-llm batch: error: this command needs Apache Beam' in error and 'pip install "tfhub-llm[beam]"' in error

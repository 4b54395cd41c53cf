"""A path given as a model that is something else: exit 2, one line saying what it is and what was expected;
``evaluate embed`` on a model that is an embedder."""

import json

import pytest

from tests.harness import (
    TINY_ENCODER,
    TINY_PREPROCESSOR,
    assert_one_line_error,
    cli_command,
    run_cli,
    save_tiny_classifier,
)
from tfhub_llm import cli


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    from tfhub_llm.tasks.embedding import TextEmbedder

    folder = tmp_path_factory.mktemp("models")
    save_tiny_classifier(folder / "classifier.keras")
    complete = (folder / "classifier.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(complete[: len(complete) // 2])
    (folder / "fake.keras").write_text("not a model\n")
    (folder / "empty").mkdir()
    (folder / "data.tsv").write_text("text\tlabel\na film\t1\n")
    TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR, seq_length=16).save(folder / "embedder.keras")
    (folder / "pairs.tsv").write_text("a\tb\tscore\na film\ta movie\t4\na dull film\ta great film\t1\n"
                                      "fine acting\tgood acting\t5\n")
    return folder


# name: (command with {folder} / {encoder} in it, what the one error line must say)
CASES = {
    "text_file": ("evaluate classify {folder}/fake.keras --data {folder}/data.tsv",
                  ["fake.keras", "truncated or corrupt .keras file", "model.keras written by finetune"]),
    "truncated": ("evaluate classify {folder}/truncated.keras --data {folder}/data.tsv",
                  ["truncated.keras", "truncated or corrupt .keras file"]),
    "saved_model_folder": ("evaluate classify {encoder} --data {folder}/data.tsv",
                           ["encoder is a SavedModel folder, not a .keras file"]),
    "other_task": ("evaluate ner {folder}/classifier.keras --data {folder}/data.tsv",
                   ["classifier.keras holds a TextClassifier, not a TokenClassifier"]),
    "export_a_saved_model": ("export serving {encoder} {folder}/serving",
                             ["encoder is a SavedModel folder, not a .keras file"]),
    "export_a_folder": ("export hub {folder}/empty {folder}/hub", ["empty is a folder, not a .keras file"]),
}


@pytest.mark.slow  # each run imports TensorFlow
@pytest.mark.parametrize("name", list(CASES))
def test_a_wrong_model_path_exits_2_saying_what_it_is(paths, name):
    command, expected = CASES[name]
    arguments = command.format(folder=paths, encoder=TINY_ENCODER).split()
    assert_one_line_error(run_cli(cli_command(*arguments)), arguments[0], expected)
    assert not (paths / "serving").exists() and not (paths / "hub").exists()


@pytest.mark.slow
def test_evaluate_embed_scores_an_embedder_on_scored_pairs(paths):
    result = run_cli(cli_command("evaluate", "embed", paths / "embedder.keras", "--data", paths / "pairs.tsv",
                                 "--text-column", "a", "--text-b-column", "b", "--score-column", "score",
                                 "--max-score", 5))
    assert result.returncode == cli.EXIT_OK, result.stderr[-3000:]
    assert "spearman" in json.dumps(json.loads(result.stdout)).lower()

"""``tfhub-llm`` refuses nonsense arguments and stray labels before any work, naming the flag or the line."""

import pytest

from tests.harness import TINY_ENCODER, TINY_PREPROCESSOR, assert_one_line_error, cli_command, run_cli
from tfhub_llm import cli

ZERO_ONE = "text\tlabel\na gripping film\t1\na dull film\t0\nfine acting\t1\na waste of time\t0\n"


def _finetune(folder, train, *options):
    folder.mkdir(exist_ok=True)
    (folder / "train.tsv").write_text(train, encoding="utf-8")
    return cli_command("finetune", "classify", "--encoder", TINY_ENCODER, "--preprocessor", TINY_PREPROCESSOR,
                       "--train", folder / "train.tsv", "--text-column", "text", "--label-column", "label",
                       "--out", folder / "out", *options)


@pytest.mark.parametrize("flag, value", [("--epochs", "-1"), ("--learning-rate", "-1"), ("--batch-size", "0"),
                                         ("--max-train-examples", "0"), ("--learning-rate", "nan")])
def test_nonsense_training_arguments_exit_2_naming_the_flag_and_write_nothing(tmp_path, flag, value):
    result = run_cli(_finetune(tmp_path, ZERO_ONE, flag, value))
    assert result.returncode == cli.EXIT_BAD_INPUT, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert f"argument {flag}: expected a positive" in result.stderr.splitlines()[-1] and value in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # reads the data, so it imports TensorFlow
def test_a_stray_word_among_integer_labels_exits_2_naming_the_line(tmp_path):
    result = run_cli(_finetune(tmp_path, ZERO_ONE + "a fine film\tpositive\n"))
    assert_one_line_error(result, "finetune", ["train.tsv", "line 6", "'label'", "'positive'", "--label-names"])
    assert not (tmp_path / "out").exists()

"""readers.labels through read_text_examples: labels that look like a typo are refused naming their line."""

import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.labels import RARE_CLASS_MIN_ROWS
from tfhub_llm.readers.text_examples import read_text_examples


def test_a_stray_word_among_integer_labels_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\n" + "a\t0\nb\t1\nc\tpositive\nd\t1\n")
    with pytest.raises(DataError, match=r"train\.tsv: line 4: field 'label': label 'positive' is a word among 3"):
        read_text_examples(path, "text", "label")
    assert read_text_examples(path, "text", "label", num_classes=3).label_names == ["0", "1", "positive"]
    assert read_text_examples(path, "text", "label", label_vocabulary=["0", "1", "positive"]).labels.tolist() == [
        0, 1, 2, 1]


def test_a_lone_class_in_a_long_file_is_refused_unless_the_classes_are_given(tmp_path):
    path = tmp_path / "train.tsv"
    rows = [f"t{i}\t{'good' if i % 2 else 'bad'}" for i in range(RARE_CLASS_MIN_ROWS)]
    rows[700] = "t700\tgodo"
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"line 702: field 'label': label 'godo' occurs once in 1000 rows"):
        read_text_examples(path, "text", "label")
    assert read_text_examples(path, "text", "label", label_vocabulary=["bad", "godo", "good"]).label_names == [
        "bad", "godo", "good"]
    path.write_text("text\tlabel\n" + "\n".join(rows[650:750]) + "\n")  # a short file: a rare class is no typo
    assert read_text_examples(path, "text", "label").label_names == ["bad", "godo", "good"]

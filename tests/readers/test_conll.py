"""readers.conll: CoNLL and JSON Lines readers of word-level tagged data, and their errors.

The CoNLL snippets are written here by hand (CoNLL-2003 itself may not be vendored).
"""

import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.conll import read_conll, read_tagged_jsonl, read_tagged_sentences

CONLL = """-DOCSTART- -X- -X- O

Ada NNP B-NP B-PER
Lovelace NNP I-NP I-PER
wrote VBD B-VP O
programs NNS B-NP O
. . O O

London NNP B-NP B-LOC
calling VBG B-VP O

-DOCSTART- -X- -X- O

Grace NNP B-NP B-PER
Hopper NNP I-NP I-PER
joined VBD B-VP O
the DT B-NP O
US NNP I-NP B-ORG
Navy NNP I-NP I-ORG
"""


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_conll_sentences_documents_lines_and_label_names(tmp_path):
    sentences = read_conll(write(tmp_path, "train.txt", CONLL))
    assert sentences.tokens == [["Ada", "Lovelace", "wrote", "programs", "."], ["London", "calling"],
                                ["Grace", "Hopper", "joined", "the", "US", "Navy"]]
    assert sentences.tags[2] == ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG"]
    assert sentences.documents == [0, 0, 1]
    assert sentences.lines[1] == [9, 10]
    assert sentences.label_names() == ["O", "B-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert read_tagged_sentences(tmp_path / "train.txt").tokens == sentences.tokens


def test_two_column_files_without_docstart_are_one_document(tmp_path):
    sentences = read_conll(write(tmp_path, "plain.conll", "Paris\tS-LOC\nis\tO\n\n\n\nNice\tS-LOC\n"))
    assert sentences.tokens == [["Paris", "is"], ["Nice"]] and sentences.documents == [0, 0]


@pytest.mark.parametrize("content, where, field, problem", [
    ("Ada B-PER\nLovelace\n", "line 2", "'tag'", "missing"),
    ("Ada NNP B-PER\nLovelace I-PER\n", "line 2", None, "has 2 columns but line 1 has 3"),
    ("Ada B-PER\nwrote PER\n", "line 2", "'tag'", "'PER' is not 'O' or B-/I-/E-/S-"),
    ("Ada X-PER\n", "line 1", "'tag'", "'X-PER'"),
    ("", None, None, "has no sentences"),
    ("-DOCSTART- O\n\n\n", None, None, "has no sentences"),
])
def test_malformed_conll_names_file_line_and_field(tmp_path, content, where, field, problem):
    path = write(tmp_path, "bad.txt", content)
    with pytest.raises(DataError, match=problem) as raised:
        read_conll(path)
    message = str(raised.value)
    assert message.startswith(str(path)) and (where is None or where in message)
    assert field is None or f"field {field}" in message


def test_tags_outside_the_models_labels_are_named(tmp_path):
    path = write(tmp_path, "dev.txt", "Ada B-PER\nwent O\n\nto O\nRome B-LOC\n")
    with pytest.raises(DataError, match=r"dev.txt: line 5: field 'tag': tag 'B-LOC' is not one of the model's labels"):
        read_conll(path, label_names=["O", "B-PER", "I-PER"])


def test_invalid_utf8_and_missing_files_are_data_errors(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Ada B-PER\nZ\xfcrich B-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match="line 2.*not valid UTF-8"):
        read_conll(path)
    with pytest.raises(DataError, match="no such file"):
        read_conll(tmp_path / "missing.txt")


def test_jsonl_reads_tokens_and_tags(tmp_path):
    path = write(tmp_path, "train.jsonl", '{"tokens": ["Ada", "wrote"], "tags": ["B-PER", "O"]}\n\n'
                                           '{"tokens": ["Zürich"], "tags": ["S-LOC"]}\n')
    sentences = read_tagged_sentences(path)
    assert sentences.tokens == [["Ada", "wrote"], ["Zürich"]] and sentences.documents == [0, 1]
    assert sentences.lines == [[1, 1], [3]]


@pytest.mark.parametrize("line, field, problem", [
    ('{"tokens": ["Ada"], "tags": ["B-PER", "O"]}', "'tags'", "has 2 tags for 1 tokens"),
    ('{"tokens": ["Ada", ""], "tags": ["B-PER", "O"]}', "'tokens'", "non-empty list of non-empty strings"),
    ('{"words": ["Ada"], "tags": ["B-PER"]}', "'tokens'", "got null"),
    ('{"tokens": ["Ada"], "tags": ["PERSON"]}', "'tags'", "item 0: tag 'PERSON'"),
    ('["Ada", "B-PER"]', None, "expected a JSON object"),
    ('{"tokens": ["Ada"], "tags": ["B-PER"]', None, "not valid JSON"),
])
def test_malformed_jsonl_names_line_and_field(tmp_path, line, field, problem):
    path = write(tmp_path, "bad.jsonl", '{"tokens": ["ok"], "tags": ["O"]}\n' + line + "\n")
    with pytest.raises(DataError, match=problem) as raised:
        read_tagged_jsonl(path)
    assert "bad.jsonl: line 2" in str(raised.value)
    assert field is None or f"field {field}" in str(raised.value)
    with pytest.raises(DataError, match="is empty"):
        read_tagged_jsonl(write(tmp_path, "empty.jsonl", "\n"))

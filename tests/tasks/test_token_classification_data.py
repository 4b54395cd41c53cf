"""Tagged data for token classification: CoNLL and JSONL readers, their errors, the split by document, and windows.

The CoNLL snippets are written here by hand (CoNLL-2003 itself may not be vendored).
"""

import numpy as np
import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.conll import read_conll, read_tagged_jsonl, read_tagged_sentences
from tfhub_llm.tasks.token_features import make_token_features
from tfhub_llm.training.splits import split_by_document

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
SPECIAL_IDS = (101, 102, 0)


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


def test_split_by_document_keeps_documents_whole(tmp_path):
    documents = "".join(f"-DOCSTART- O\n\nDoc{d} B-ORG\nsays O\n\nmore O\n\n" for d in range(10))
    sentences = read_conll(write(tmp_path, "docs.txt", documents))
    train, validation = split_by_document(sentences, 0.3, seed=0)
    assert len(train) == 14 and len(validation) == 6
    assert not set(train.documents) & set(validation.documents)
    assert train.documents == sorted(train.documents)  # file order kept
    assert split_by_document(sentences, 0.3, seed=0)[1].tokens == validation.tokens
    with pytest.raises(ValueError, match=r"of the 1 documents of .*one.txt leaves 0 for validation"):
        split_by_document(read_conll(write(tmp_path, "one.txt", "Ada B-PER\n")), 0.5, seed=0)


def test_short_sentences_take_one_window_with_tags_on_first_pieces():
    # two words: [7, 8] (a word of two pieces) and [9]
    features = make_token_features([[np.array([7, 8]), np.array([9])]], SPECIAL_IDS, max_seq_length=8,
                                   label_ids=[[2, 1]])
    assert features.input_word_ids.tolist() == [[101, 7, 8, 9, 102, 0, 0, 0]]
    assert features.input_mask.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]]
    assert features.labels.tolist() == [[0, 2, 0, 1, 0, 0, 0, 0]]
    assert features.label_weights.tolist() == [[0, 1, 0, 1, 0, 0, 0, 0]]
    assert features.word_rows[0].tolist() == [0, 0] and features.word_positions[0].tolist() == [1, 3]


def test_long_sentences_are_windowed_so_no_word_is_lost():
    words = [np.array([100 + i]) if i % 3 else np.array([100 + i, 500]) for i in range(30)]  # 40 pieces
    labels = [[i % 5 for i in range(30)]]
    features = make_token_features([words], SPECIAL_IDS, max_seq_length=12, doc_stride=4, label_ids=labels)
    assert len(features) > 1
    assert features.input_mask.sum(axis=1).max() == 12
    labelled = {(row, position) for row, position in zip(*np.nonzero(features.label_weights))}
    for word, (row, position) in enumerate(zip(features.word_rows[0], features.word_positions[0])):
        assert features.input_word_ids[row, position] == 100 + word  # its first piece, in the window it is read from
        assert (row, position) in labelled and features.labels[row, position] == labels[0][word]
    # each word is read from the window where it is farthest from an edge
    middle = features.word_rows[0][15]
    assert 3 <= features.word_positions[0][15] <= 8, middle


def test_words_without_pieces_are_marked_and_features_need_matching_labels():
    features = make_token_features([[np.array([5]), np.zeros(0, np.int32), np.array([6])]], SPECIAL_IDS,
                                   label_ids=[[1, 2, 3]])
    assert features.word_rows[0].tolist() == [0, -1, 0] and features.labels[0, :3].tolist() == [0, 1, 3]
    with pytest.raises(ValueError, match="sentence 0 has 1 words but 2 labels"):
        make_token_features([[np.array([5])]], SPECIAL_IDS, label_ids=[[1, 2]])
    with pytest.raises(ValueError, match="doc_stride"):
        make_token_features([[np.array([5])]], SPECIAL_IDS, doc_stride=0)
    empty = make_token_features([], SPECIAL_IDS, max_seq_length=8)
    assert len(empty) == 0 and empty.input_word_ids.shape == (0, 8)

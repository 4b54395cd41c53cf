"""readers.text_examples on SST-2 and on pairs files in the GLUE layouts, and every DataError path."""

import numpy as np
import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.text_examples import read_text_examples

from tests.harness import DATA, FIXTURES

SST2 = DATA / "sst2" / "train.tsv"
# Hand-written pairs in the GLUE MRPC (UTF-8 BOM, quotes in the text) and RTE (string labels) layouts.
MRPC_FORMAT = FIXTURES / "data" / "pairs_mrpc_format.tsv"
RTE_FORMAT = FIXTURES / "data" / "pairs_rte_format.tsv"


def glue_rows(path):
    """The file's rows split on tabs, header dropped, BOM removed: an independent reading."""
    with open(path, encoding="utf-8") as file:
        lines = file.read().lstrip("\ufeff").splitlines()
    return [line.split("\t") for line in lines[1:]]


def test_sst2_single_sentences_with_integer_labels():
    rows = glue_rows(SST2)
    examples = read_text_examples(SST2, "text", "label", num_classes=2)
    assert examples.texts == [row[0] for row in rows]
    assert examples.texts_b is None and examples.label_names is None
    assert examples.labels.dtype == np.int32
    np.testing.assert_array_equal(examples.labels, [int(row[1]) for row in rows])


def test_mrpc_pairs_with_a_byte_order_mark_and_quotes_kept():
    rows = glue_rows(MRPC_FORMAT)
    examples = read_text_examples(MRPC_FORMAT, "#1 String", "Quality",
                                  text_b_column="#2 String", num_classes=2)
    assert len(examples) == len(rows)
    assert examples.texts == [row[3] for row in rows] and examples.texts_b == [row[4] for row in rows]
    assert any('"' in text for text in examples.texts)  # quoting is off: quotes stay in the text
    np.testing.assert_array_equal(examples.labels, [int(row[0]) for row in rows])


def test_rte_string_labels_build_or_follow_a_vocabulary():
    rows = glue_rows(RTE_FORMAT)
    built = read_text_examples(RTE_FORMAT, "sentence1", "label", text_b_column="sentence2")
    assert built.label_names == ["entailment", "not_entailment"]
    np.testing.assert_array_equal(built.labels, [row[3] == "not_entailment" for row in rows])
    given = read_text_examples(RTE_FORMAT, "sentence1", "label", text_b_column="sentence2",
                               label_vocabulary=["not_entailment", "entailment"])
    np.testing.assert_array_equal(given.labels, 1 - built.labels)
    assert given.label_names == ["not_entailment", "entailment"]


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_jsonl_pairs_multilabel_and_regression(tmp_path):
    path = write(tmp_path, "rows.jsonl",
                 '{"q": "a", "p": "b", "tags": "x|z", "y": 0.5}\n\n'
                 '{"q": "c", "p": "d", "tags": ["y"], "y": "2"}\n'
                 '{"q": "e", "p": "f", "tags": "z, x", "y": -1}\n')
    multi = read_text_examples(path, "q", "tags", text_b_column="p", label_type="multilabel")
    assert multi.texts == ["a", "c", "e"] and multi.texts_b == ["b", "d", "f"]
    assert multi.label_names == ["x", "y", "z"]
    np.testing.assert_array_equal(multi.labels, [[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    regression = read_text_examples(path, "q", "y", label_type="regression")
    np.testing.assert_array_equal(regression.labels, np.float32([0.5, 2.0, -1.0]))


def test_csv_with_quoted_newlines_and_explicit_delimiter(tmp_path):
    path = write(tmp_path, "rows.csv", '\ufefftext,label\n"two\nlines, one row",pos\nplain,neg\n')
    examples = read_text_examples(path, "text", "label")
    assert examples.texts == ["two\nlines, one row", "plain"]
    assert examples.label_names == ["neg", "pos"] and examples.labels.tolist() == [1, 0]
    semicolons = write(tmp_path, "rows.txt", "text;label\nhello;1\n")
    assert read_text_examples(semicolons, "text", "label", delimiter=";").labels.tolist() == [1]


def test_unlabelled_reading(tmp_path):
    path = write(tmp_path, "rows.tsv", "text\tlabel\nhello\t\n")
    examples = read_text_examples(path, "text")
    assert examples.texts == ["hello"] and examples.labels is None


@pytest.mark.parametrize("name, content, kwargs, expected", [
    ("m.tsv", "sentence\tlabel\nhi\t1\n", {"text_column": "text", "label_column": "label"},
     r"m.tsv: line 1 \(header\): field 'text': no such column; the columns are \['sentence', 'label'\]"),
    ("m.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 1}\n',
     {"text_column": "text", "label_column": "label"},
     r"m.jsonl: line 2: field 'text': missing; this record has the fields \['label', 'txt'\]"),
    ("v.tsv", "text\tlabel\na\tpos\nb\tmaybe\n",
     {"text_column": "text", "label_column": "label", "label_vocabulary": ["neg", "pos"]},
     r"v.tsv: line 3: field 'label': label 'maybe' is not in the label set \['neg', 'pos'\]"),
    ("r.tsv", "text\tlabel\na\t0\nb\t1\nc\t2\n", {"text_column": "text", "label_column": "label", "num_classes": 2},
     r"r.tsv: line 4: field 'label': label 2 is outside range\(num_classes=2\)"),
    ("n.tsv", "text\tlabel\na\t0\nb\tNaN\n", {"text_column": "text", "label_column": "label"},
     r"n.tsv: line 3: field 'label': empty or NaN label"),
    ("e.csv", "text,label\na,\n", {"text_column": "text", "label_column": "label"},
     r"e.csv: line 2: field 'label': empty or NaN label"),
    ("j.jsonl", '{"text": "a", "label": null}\n', {"text_column": "text", "label_column": "label"},
     r"j.jsonl: line 1: field 'label': empty or NaN label \(null\)"),
    ("g.tsv", "text\tscore\na\t0.5\nb\tlots\n",
     {"text_column": "text", "label_column": "score", "label_type": "regression"},
     r"g.tsv: line 3: field 'score': expected a number, got \"lots\""),
    ("g.jsonl", '{"text": "a", "score": NaN}\n',
     {"text_column": "text", "label_column": "score", "label_type": "regression"},
     r"g.jsonl: line 1: field 'score': empty or NaN label"),
    ("empty.tsv", "", {"text_column": "text"}, r"empty.tsv: is empty"),
    ("empty.jsonl", "\n\n", {"text_column": "text"}, r"empty.jsonl: is empty \(no JSON records\)"),
    ("header.tsv", "text\tlabel\n", {"text_column": "text", "label_column": "label"},
     r"header.tsv: has a header line but no rows"),
    ("w.tsv", "text\tlabel\na\t1\n\nb\t1\textra\n", {"text_column": "text", "label_column": "label"},
     r"w.tsv: line 4: has 3 fields but the header has 2"),
    ("q.csv", 'text,label\n"a\nb",1\nc\n', {"text_column": "text", "label_column": "label"},
     r"q.csv: line 4: has 1 fields but the header has 2"),
    ("t.tsv", "text\tlabel\n \t1\n", {"text_column": "text", "label_column": "label"},
     r"t.tsv: line 2: field 'text': empty text"),
    ("s.jsonl", '{"text": 7}\n', {"text_column": "text"}, r"s.jsonl: line 1: field 'text': expected a string, got 7"),
    ("bad.jsonl", '{"text": "a"}\n{"text": \n', {"text_column": "text"},
     r"bad.jsonl: line 2: not valid JSON .*JSON Lines"),
    ("list.jsonl", '["a"]\n', {"text_column": "text"}, r"list.jsonl: line 1: expected a JSON object, got list"),
    ("k.tsv", "text\tlabel\na\tx,\n", {"text_column": "text", "label_column": "label", "label_type": "multilabel"},
     r"k.tsv: line 2: field 'label': empty label in \"x,\""),
    ("c.tsv", "text\tlabel\na\tx\nb\ty\nc\tz\n", {"text_column": "text", "label_column": "label", "num_classes": 2},
     r"c.tsv: field 'label': found 3 distinct labels \['x', 'y', 'z'\] but num_classes=2"),
    ("f.jsonl", '{"text": "a", "label": 1.5}\n', {"text_column": "text", "label_column": "label"},
     r"f.jsonl: line 1: field 'label': expected an integer or string label, got 1.5"),
    ("x.parquet", "text\n", {"text_column": "text"}, r"x.parquet: cannot tell the format from the suffix"),
    ("big.tsv", "text\n" + "x" * 200_000 + "\n", {"text_column": "text"},
     r"big.tsv: line 2: malformed row \(field larger than field limit"),
])
def test_bad_files_name_the_file_line_and_field(tmp_path, name, content, kwargs, expected):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError, match=expected):
        read_text_examples(path, **kwargs)


def test_non_utf8_and_missing_files(tmp_path):
    path = write(tmp_path, "latin.tsv", "text\nCaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.tsv: line 2: is not valid UTF-8 \(invalid continuation byte at byte 8\)"):
        read_text_examples(path, "text")
    with pytest.raises(DataError, match="no such file"):
        read_text_examples(tmp_path / "absent.tsv", "text")


def test_bad_arguments_are_refused(tmp_path):
    path = write(tmp_path, "ok.tsv", "text\tlabel\na\tx\n")
    with pytest.raises(ValueError, match="label_type must be one of"):
        read_text_examples(path, "text", "label", label_type="ordinal")
    with pytest.raises(ValueError, match="has 2 names but num_classes=3"):
        read_text_examples(path, "text", "label", label_vocabulary=["x", "y"], num_classes=3)

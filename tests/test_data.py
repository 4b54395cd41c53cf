"""Text-example readers on SST-2 and on pairs files in the GLUE layouts, every DataError path, tf.data batching and splits."""

import numpy as np
import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.datasets import to_dataset
from tfhub_llm.readers.text_examples import TextExamples, read_text_examples
from tfhub_llm.training.splits import split_examples

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


def pairs(count=10):
    return TextExamples(texts=[f"t{i}" for i in range(count)], texts_b=[f"b{i}" for i in range(count)],
                        labels=np.arange(count, dtype=np.int32) % 2, label_names=None, path="mem")


def test_to_dataset_batches_pairs_and_reshuffles_reproducibly():
    examples = pairs()
    x, y = next(iter(to_dataset(examples, batch_size=4, shuffle=False)))
    assert [t.decode() for t in x["text"].numpy()] == ["t0", "t1", "t2", "t3"]
    assert [t.decode() for t in x["text_b"].numpy()] == ["b0", "b1", "b2", "b3"]
    assert y.numpy().tolist() == [0, 1, 0, 1]

    def epoch_orders(dataset):
        return [[t.decode() for x, _ in dataset for t in x["text"].numpy()] for _ in range(2)]

    first = epoch_orders(to_dataset(examples, batch_size=3, seed=7))
    again = epoch_orders(to_dataset(examples, batch_size=3, seed=7))
    assert first == again
    assert first[0] != first[1] and sorted(first[0]) == sorted(examples.texts)


def test_to_dataset_single_texts_and_unlabelled(tmp_path):
    path = write(tmp_path, "ok.tsv", "text\tlabel\na\t1\nb\t0\nc\t1\n")
    labelled = read_text_examples(path, "text", "label")
    x, y = next(iter(to_dataset(labelled, batch_size=2, shuffle=False)))
    assert x.dtype.name == "string" and x.shape == (2,) and y.numpy().tolist() == [1, 0]
    unlabelled = read_text_examples(path, "text")
    batches = list(to_dataset(unlabelled, batch_size=2, shuffle=False))
    assert [b.shape[0] for b in batches] == [2, 1] and batches[0].dtype.name == "string"
    with pytest.raises(ValueError, match="batch_size"):
        to_dataset(labelled, batch_size=0)


def test_split_examples_is_deterministic_and_disjoint():
    examples = read_text_examples(RTE_FORMAT, "sentence1", "label", text_b_column="sentence2")
    train, validation = split_examples(examples, 0.1, seed=3)
    assert len(validation) == round(0.1 * len(examples)) and len(train) + len(validation) == len(examples)
    pairs_of = lambda ex: list(zip(ex.texts, ex.texts_b, ex.labels.tolist()))
    assert sorted(pairs_of(train) + pairs_of(validation)) == sorted(pairs_of(examples))
    assert pairs_of(split_examples(examples, 0.1, seed=3)[1]) == pairs_of(validation)
    assert pairs_of(split_examples(examples, 0.1, seed=4)[1]) != pairs_of(validation)
    assert validation.label_names == examples.label_names
    with pytest.raises(ValueError, match="validation_fraction"):
        split_examples(examples, 1.0, seed=0)
    with pytest.raises(ValueError, match="both need at least one"):
        split_examples(pairs(3), 0.1, seed=0)


def phrase_treebank(sentences):
    """Rows as SST-2 has them: every sentence, then every word span of it (a parse tree's phrases)."""
    rows = []
    for sentence in sentences:
        words = sentence.split()
        rows += [" ".join(words[start:end]) + " " for start in range(len(words))
                 for end in range(start + 1, len(words) + 1)]
    return TextExamples(texts=rows, texts_b=None, labels=np.arange(len(rows), dtype=np.int32) % 2,
                        label_names=None, path="treebank.tsv")


def test_sentence_split_holds_out_whole_sentences_and_drops_their_phrases():
    sentences = [f"film {i} was quite good" if i % 2 else f"plot {i} felt rather thin and slow" for i in range(20)]
    sentences.append("was quite good")  # a row that is a span of longer rows is no sentence of its own
    examples = phrase_treebank(sentences)
    train, held_out = split_examples(examples, 0.25, seed=1, by="sentences")
    normalised = lambda texts: {" ".join(text.split()) for text in texts}
    assert len(held_out) == 5 and normalised(held_out.texts) <= set(sentences[:20])
    held_out_spans = set().union(*(phrase_treebank([s]).texts for s in held_out.texts))
    assert not normalised(train.texts) & normalised(held_out_spans)
    kept = set(sentences[:20]) - normalised(held_out.texts)
    assert kept <= normalised(train.texts)  # the other sentences and their own phrases stay
    assert split_examples(examples, 0.25, seed=1, by="sentences")[1].texts == held_out.texts
    with pytest.raises(ValueError, match="whole sentences"):
        split_examples(phrase_treebank(["one"]), 0.5, seed=0, by="sentences")
    with pytest.raises(ValueError, match="by must be one of"):
        split_examples(examples, 0.25, seed=1, by="words")


def test_a_stray_word_among_integer_labels_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabel\n" + "a\t0\nb\t1\nc\tpositive\nd\t1\n")
    with pytest.raises(DataError, match=r"train\.tsv: line 4: field 'label': label 'positive' is a word among 3"):
        read_text_examples(path, "text", "label")
    assert read_text_examples(path, "text", "label", num_classes=3).label_names == ["0", "1", "positive"]
    assert read_text_examples(path, "text", "label", label_vocabulary=["0", "1", "positive"]).labels.tolist() == [
        0, 1, 2, 1]


def test_a_lone_class_in_a_long_file_is_refused_unless_the_classes_are_given(tmp_path):
    from tfhub_llm.readers.labels import RARE_CLASS_MIN_ROWS

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

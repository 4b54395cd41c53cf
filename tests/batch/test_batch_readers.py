"""read_rows: every record of JSON Lines, CSV, TSV, text and Parquet files, bad ones with their line and field."""

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfhub_llm.batch.readers import file_format, read_rows
from tfhub_llm.errors import InvalidArgumentError

TEXT = {"text": "text"}


def rows(name, content, columns=TEXT, **kwargs):
    return list(read_rows(name, io.BytesIO(content), columns, **kwargs))


def summary(rows_read):
    return [(row.line, row.inputs, row.field, row.problem and row.problem.split(" (")[0]) for row in rows_read]


def test_csv_rows_keep_their_lines_across_quoted_newlines_and_bad_rows():
    content = (b'\xef\xbb\xbfid,review,other\n1,"two\nlines",x\n\n2,,y\n3,short\n4,"ok, fine",z\n'
               b'5,\xff bad,z\n6,"spans\n\xfe\n",z\n7,last,z\n')
    got = summary(rows("a.csv", content, {"text": "review"}))
    assert got == [
        (2, {"text": "two\nlines"}, None, None),
        (5, None, "review", "empty text"),
        (6, None, None, "has 2 fields but the header"),
        (7, {"text": "ok, fine"}, None, None),
        (8, None, None, "is not valid UTF-8"),
        (10, None, None, "is not valid UTF-8"),
        (9, None, None, "spans line 10, which is not valid UTF-8"),
        (12, {"text": "last"}, None, None),
    ]
    assert str(rows("a.csv", content, {"text": "review"})[6].error()) == "a.csv: line 9: spans line 10, which is not valid UTF-8"


def test_a_missing_column_is_a_bad_row_each_time_and_ids_are_copied():
    content = b"id\ttext\tb\n1\tone\tuno\n2\ttwo\t\n"
    got = rows("p.tsv", content, {"text": "text", "text_b": "b"}, id_column="id")
    assert [(row.inputs, row.row_id, row.field, row.problem) for row in got] == [
        ({"text": "one", "text_b": "uno"}, "1", None, None), (None, None, "b", "empty text")]
    missing = rows("p.tsv", content, {"text": "body"})
    assert [(row.line, row.field) for row in missing] == [(2, "body"), (3, "body")]
    assert str(missing[0].error()) == "p.tsv: line 2: field 'body': missing; this record has the fields ['b', 'id', 'text']"


def test_tsv_reads_quotes_as_text_as_glue_writes_them():
    assert rows("g.tsv", b'text\n"quoted" and "more\n')[0].inputs == {"text": '"quoted" and "more'}


def test_text_files_are_one_text_a_line_and_blank_lines_are_empty_texts():
    got = summary(rows("c.txt", b"first\r\n\nthird\n\xc3(\nlast"))
    assert got == [(1, {"text": "first"}, None, None), (2, None, None, "empty text"), (3, {"text": "third"}, None, None),
                   (4, None, None, "is not valid UTF-8"), (5, {"text": "last"}, None, None)]
    with pytest.raises(InvalidArgumentError, match="one text a line, but the export takes"):
        rows("c.txt", b"x\n", {"question": "q", "context": "c"})


def test_json_lines_skip_blank_lines_and_name_bad_json():
    got = summary(rows("d.jsonl", b'{"text": "a"}\n\n{"text": \n{"text": null}\n'))
    assert got == [(1, {"text": "a"}, None, None), (3, None, None, "not valid JSON"), (4, None, "text", "missing; this record has the fields []")]


def test_parquet_rows_are_numbered_and_a_bad_file_is_one_bad_row(tmp_path):
    pq.write_table(pa.table({"text": ["a", "", None, "d"], "n": [1, 2, 3, 4]}), tmp_path / "e.parquet")
    with open(tmp_path / "e.parquet", "rb") as file:
        got = list(read_rows("e.parquet", file, TEXT, id_column="n"))
    assert [(row.where, row.inputs, row.row_id, row.problem and row.problem[:9]) for row in got] == [
        ("row 1", {"text": "a"}, "1", None), ("row 2", None, None, "empty tex"), ("row 3", None, None, "missing; "),
        ("row 4", {"text": "d"}, "4", None)]
    broken = rows("f.parquet", b"not parquet at all")
    assert len(broken) == 1 and broken[0].where is None and str(broken[0].error()).startswith(
        "f.parquet: is not a Parquet file")


def test_the_format_comes_from_the_suffix_or_is_named():
    assert [file_format(name) for name in ("a.JSONL", "b.json", "c.csv", "d.tsv", "e.txt", "f.parquet")] == [
        "jsonl", "jsonl", "csv", "tsv", "text", "parquet"]
    assert file_format("corpus.dat", "text") == "text"
    with pytest.raises(InvalidArgumentError, match="corpus.dat: cannot tell the format from the suffix '.dat'"):
        file_format("corpus.dat")
    with pytest.raises(InvalidArgumentError, match="format must be one of"):
        file_format("a.csv", "xml")

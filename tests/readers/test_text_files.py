"""readers.text_files: lines decoded one at a time (bad bytes counted in the line and in the file), and records."""

import io

import pytest

from tfhub_llm.errors import DataError
from tfhub_llm.readers.text_files import (
    checked,
    decoded_lines,
    delimited_records,
    json_lines_records,
    read_utf8,
    text_lines,
)


def test_lines_keep_their_endings_and_drop_a_leading_bom_only():
    lines = list(decoded_lines(io.BytesIO(b"\xef\xbb\xbfa\r\n\xef\xbb\xbfb\nc")))
    assert [(line.number, line.offset, line.text) for line in lines] == [
        (1, 3, "a\r\n"), (2, 6, "\ufeffb\n"), (3, 11, "c")]


def test_a_bad_line_counts_its_byte_in_the_line_and_the_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"\xef\xbb\xbfok\nCaf\xe9\nafter\n")
    bad = list(decoded_lines(io.BytesIO(path.read_bytes())))[1]
    assert bad.text is None and bad.problem == "is not valid UTF-8 (invalid continuation byte at byte 3 of the line)"
    with pytest.raises(DataError, match=r"f.txt: line 2: is not valid UTF-8 \(invalid continuation byte at byte 9\)$"):
        read_utf8(path)
    path.write_bytes(b"\xef\xbb\xbfok\nfine\n")
    assert read_utf8(path) == "ok\nfine\n"
    with pytest.raises(DataError, match="absent.txt: no such file"):
        list(text_lines(tmp_path / "absent.txt"))


def test_records_carry_their_problems_and_checked_raises_at_the_first():
    lines = list(decoded_lines(io.BytesIO(b'{"a": 1}\n\n[2]\nnot json\n')))
    records = list(json_lines_records(lines))
    assert [(record.line, record.values, record.problem and record.problem[:22]) for record in records] == [
        (1, {"a": 1}, None), (3, None, "expected a JSON object"), (4, None, "not valid JSON (Expect")]
    with pytest.raises(DataError, match=r"x.jsonl: line 3: expected a JSON object, got list"):
        list(checked("x.jsonl", records))
    csv_records = list(delimited_records(decoded_lines(io.BytesIO(b"\na,b\n1,2\n3\n")), ","))
    assert [(record.line, record.columns, record.values, record.problem) for record in csv_records] == [
        (2, ["a", "b"], None, None), (3, None, {"a": "1", "b": "2"}, None),
        (4, None, None, "has 1 fields but the header has 2")]
    named = list(delimited_records(decoded_lines(io.BytesIO(b"\na,b\n3\n")), ",", name_header_line=True))
    assert named[-1].problem == "has 1 fields but the header (line 2) has 2"

"""Reading text data files line by line: UTF-8 decoding, CSV / TSV records, JSON Lines objects.

One implementation for every reader of the package. :func:`decoded_lines` decodes a binary file a
line at a time (a UTF-8 BOM dropped, line endings kept) and never raises: a line that is not UTF-8
carries its problem. :func:`delimited_records` and :func:`json_lines_records` turn lines into
:class:`Record`\\ s, each a ``{column: value}`` dict or the problem that stopped it, numbered by its
first line (1-based, a CSV header is line 1, as an editor shows it). Blank lines are no records.

Two ways to use them: the batch pipeline (:mod:`tfhub_llm.batch.readers`) keeps going past a bad
record, while the training readers (:mod:`tfhub_llm.readers.text_examples`, :mod:`tfhub_llm.readers.conll`,
:mod:`tfhub_llm.readers.squad`) read :func:`text_lines` and call :func:`checked`, which raise
:class:`tfhub_llm.errors.DataError` (naming the file, the line and the field) at the first problem.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from typing import BinaryIO, Iterable, Iterator

from tfhub_llm.errors import DataError

_BOM = b"\xef\xbb\xbf"
JSON_LINES_SUFFIXES = (".jsonl", ".json")  # the suffixes every reader reads as JSON Lines


@dataclasses.dataclass(frozen=True)
class Line:
    """Line ``number`` (1-based) of a file, starting at byte ``offset``: its ``text``, or the ``error`` decoding it."""

    number: int
    offset: int
    text: str | None
    error: UnicodeDecodeError | None = None

    @property
    def problem(self) -> str | None:
        """Why the line cannot be read, counting the bad byte from the start of the line; None if it can."""
        return self.error and f"is not valid UTF-8 ({self.error.reason} at byte {self.error.start} of the line)"


@dataclasses.dataclass(frozen=True)
class Record:
    """The record starting at ``line``: its ``values`` ({column: value}), or the ``problem`` with it.

    A CSV / TSV header is a record of its own, with its ``columns`` instead.
    """

    line: int
    values: dict | None = None
    problem: str | None = None
    columns: list[str] | None = None

    @property
    def where(self) -> str:
        return f"line {self.line}"


def decoded_lines(file: BinaryIO) -> Iterator[Line]:
    """The lines of a binary file object, each decoded as UTF-8 (a BOM before the first one dropped)."""
    offset = 0
    for number, raw in enumerate(file, start=1):
        start = offset
        offset += len(raw)
        if number == 1 and raw.startswith(_BOM):
            raw, start = raw[len(_BOM):], start + len(_BOM)
        try:
            yield Line(number, start, raw.decode("utf-8"))
        except UnicodeDecodeError as error:
            yield Line(number, start, None, error)


def text_lines(path: str | os.PathLike) -> Iterator[Line]:
    """The decoded lines of the file at ``path``; a DataError names a missing file, or the first line that is
    not UTF-8 with its bad byte counted from the start of the file."""
    path = os.fspath(path)
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, None, None, "no such file") from None
    with file:
        for line in decoded_lines(file):
            if line.error is not None:
                raise DataError(path, f"line {line.number}", None, f"is not valid UTF-8 "
                                f"({line.error.reason} at byte {line.offset + line.error.start})")
            yield line


def read_utf8(path: str | os.PathLike) -> str:
    """The whole text of the file at ``path`` (without a BOM); errors as :func:`text_lines` raises them."""
    return "".join(line.text for line in text_lines(path))


def checked(path: str, records: Iterable[Record]) -> Iterator[Record]:
    """``records``, raising a DataError (naming ``path`` and the line) at the first one with a problem."""
    for record in records:
        if record.problem is not None:
            raise DataError(path, record.where, None, record.problem)
        yield record


def delimited_records(lines: Iterable[Line], delimiter: str, name_header_line: bool = False) -> Iterator[Record]:
    """The records of a CSV (``delimiter=","``) or TSV (``"\\t"``, quoting off as GLUE writes it) file.

    The first record is the header, with its ``columns``; ``name_header_line`` makes a problem with a
    record's width name the header's line (for readers that go on past bad records). A record of a
    different width than the header, a row the ``csv`` module cannot parse, a line that is not UTF-8
    and a record spanning one (a quoted field over several lines) are problems of their own; the
    parser sees a blank line in place of a bad line, so the line numbers stay right.
    """
    bad_lines = {}

    def texts():
        for line in lines:
            if line.error is not None:
                bad_lines[line.number] = line.problem
            yield "\n" if line.error is not None else line.text

    reader = csv.reader(texts(), delimiter=delimiter,
                        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)
    header, header_line = None, ""
    while True:
        first = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Record(first, problem=f"malformed row ({error})")
            continue
        spanned = sorted(number for number in bad_lines if number >= first)
        for number in spanned:
            yield Record(number, problem=bad_lines.pop(number))
        if spanned and fields:
            yield Record(first, problem=f"spans line {spanned[0]}, which is not valid UTF-8")
        elif header is None and fields:
            header, header_line = fields, f" (line {first})" if name_header_line else ""
            yield Record(first, columns=header)
        elif fields and len(fields) != len(header):
            yield Record(first, problem=f"has {len(fields)} fields but the header{header_line} has {len(header)}")
        elif fields:
            yield Record(first, dict(zip(header, fields)))


def json_lines_records(lines: Iterable[Line]) -> Iterator[Record]:
    """The records of a JSON Lines file: one JSON object per non-blank line."""
    for line in lines:
        if line.error is not None:
            yield Record(line.number, problem=line.problem)
        elif line.text.strip():
            yield _json_record(line)


def _json_record(line: Line) -> Record:
    try:
        value = json.loads(line.text)
    except json.JSONDecodeError as error:
        return Record(line.number, problem=f"not valid JSON ({error.msg} at column {error.colno}); "
                                           "files are read as JSON Lines, one object per line")
    if not isinstance(value, dict):
        return Record(line.number, problem=f"expected a JSON object, got {type(value).__name__}")
    return Record(line.number, value)


def text_field(path: str, where: str, record: dict, column: str) -> str:
    """``record[column]`` as a non-blank string; a DataError names the file, where and the column otherwise."""
    value = record[column]
    if not isinstance(value, str):
        raise DataError(path, where, column, f"expected a string, got {json.dumps(value)}")
    if not value.strip():
        raise DataError(path, where, column, "empty text")
    return value

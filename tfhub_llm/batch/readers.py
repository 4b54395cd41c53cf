"""The rows of one input file for batch inference: scored rows, and bad rows with their file and line.

:func:`read_rows` reads JSON Lines (``.jsonl`` / ``.json``), CSV (``.csv``), TSV (``.tsv``, GLUE's quoting
off, as the training readers read it), plain text (``.txt``, one text a line) and Parquet (``.parquet``)
from a binary file object, and yields a :class:`Row` per record: its ``inputs`` (the export's input
names mapped to texts), or its ``problem`` when the record cannot be scored (not UTF-8, not JSON, a
missing column or field, a text that is not a string or is empty). Lines and records are read by
:mod:`tfhub_llm.readers.text_files`, the one reader of the package, with its checks and messages;
nothing here raises for a bad row: the pipeline sends such rows to its dead-letter output. Lines
are 1-based as an editor shows them (a CSV header is line 1); Parquet rows are numbered from 1 and
named "row N". Blank lines of JSON Lines and CSV / TSV files are no records; a blank line of a text
file is an empty text.
"""

import dataclasses
import io
import os

from tfhub_llm.errors import DataError, InvalidArgumentError
from tfhub_llm.readers.text_files import decoded_lines, delimited_records, json_lines_records, text_field

JSON_LINES, CSV, TSV, TEXT, PARQUET = FORMATS = ("jsonl", "csv", "tsv", "text", "parquet")
_FORMAT_BY_SUFFIX = {".jsonl": JSON_LINES, ".json": JSON_LINES, ".csv": CSV, ".tsv": TSV, ".txt": TEXT,
                     ".parquet": PARQUET}
_PARQUET_BATCH_ROWS = 1024


@dataclasses.dataclass(frozen=True)
class Row:
    """One record of ``source`` at ``line``: ``inputs`` ({input name: text}) to score, or the ``problem`` with it.

    ``row_id`` is the record's id column (as a string) when one was asked for and present.
    """

    source: str
    line: int
    inputs: dict | None = None
    row_id: str | None = None
    field: str | None = None
    problem: str | None = None
    unit: str = "line"  # "row" in Parquet files; line 0 is the whole file

    @property
    def where(self):
        return f"{self.unit} {self.line}" if self.line else None

    def error(self):
        """The problem as the package's :class:`~tfhub_llm.errors.DataError` (its message names file, line, field)."""
        return DataError(self.source, self.where, self.field, self.problem)


def file_format(path, format=None):
    """The format of ``path``: ``format`` when given, else from its suffix; an unknown one is an InvalidArgumentError."""
    if format is not None:
        if format not in FORMATS:
            raise InvalidArgumentError(f"format must be one of {FORMATS}, got {format!r}")
        return format
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _FORMAT_BY_SUFFIX:
        raise InvalidArgumentError(
            f"{path}: cannot tell the format from the suffix {suffix!r}: use one of {sorted(_FORMAT_BY_SUFFIX)}, "
            f"or pass the format ({', '.join(FORMATS)})")
    return _FORMAT_BY_SUFFIX[suffix]


def read_rows(path, file, columns, format=None, id_column=None):
    """Yields a :class:`Row` for every record of ``file`` (binary, opened from ``path``).

    ``columns`` maps each input of the export to the column (or JSON field) holding it, e.g.
    ``{"text": "review"}`` or ``{"question": "q", "context": "passage"}``; a text file has one
    column, its lines. ``id_column`` names a column copied to the output as the row's id.
    """
    format = file_format(path, format)
    if format == TEXT:
        if len(columns) != 1:
            raise InvalidArgumentError(f"{path}: a text file holds one text a line, but the export takes "
                                       f"{sorted(columns)}; use JSON Lines, CSV, TSV or Parquet")
        yield from _text_rows(path, file, next(iter(columns)))
    elif format == PARQUET:
        yield from _parquet_rows(path, file, columns, id_column)
    else:
        lines = decoded_lines(file)
        records = json_lines_records(lines) if format == JSON_LINES else delimited_records(
            lines, "\t" if format == TSV else ",", name_header_line=True)
        for record in records:
            if record.problem is not None:
                yield Row(path, record.line, problem=record.problem)
            elif record.columns is None:  # a CSV / TSV header is no row
                yield _row(path, record.line, record.values, columns, id_column)


def _row(path, line, record, columns, id_column, unit="line"):
    """The Row of one record ``{column: value}``: its inputs, or the first missing, non-string or empty field."""
    where = f"{unit} {line}"
    try:
        inputs = {}
        for name, column in columns.items():
            if record.get(column) is None:
                present = sorted(key for key, value in record.items() if value is not None)
                raise DataError(path, where, column, f"missing; this record has the fields {present}")
            inputs[name] = text_field(path, where, record, column)
        if id_column is not None and record.get(id_column) is None:
            raise DataError(path, where, id_column, "missing id")
    except DataError as error:
        return Row(path, line, field=error.field, problem=error.problem, unit=unit)
    return Row(path, line, inputs=inputs, row_id=None if id_column is None else str(record[id_column]), unit=unit)


def _text_rows(path, file, name):
    for line in decoded_lines(file):
        if line.error is not None:
            yield Row(path, line.number, problem=line.problem)
            continue
        text = line.text.rstrip("\r\n")
        yield Row(path, line.number, inputs={name: text}) if text.strip() else Row(
            path, line.number, problem="empty text")


def _parquet_rows(path, file, columns, id_column):
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file if file.seekable() else io.BytesIO(file.read()))
    except Exception as error:  # pyarrow raises ArrowInvalid (a ValueError) or OSError for a bad file
        yield Row(path, 0, problem=f"is not a Parquet file ({error})")
        return
    wanted = [column for column in dict.fromkeys([*columns.values(), id_column]) if column is not None]
    present = [column for column in wanted if column in parquet.schema_arrow.names]
    number = 0
    for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=present):
        for record in batch.to_pylist():
            number += 1
            yield _row(path, number, record, columns, id_column, unit="row")

"""The output folder of a batch run: shards that are complete or absent, dead letters, and the run's record.

Every row belongs to one shard, fixed before anything runs: the ``file_index``-th input file (inputs
sorted by name) and its block of ``rows_per_shard`` lines (``(line - 1) // rows_per_shard``). A shard's
answers go to ``OUTPUT/part-FFFFF-BBBBBB.jsonl`` (or ``.parquet``) and its bad rows to
``OUTPUT/dead_letter/part-FFFFF-BBBBBB.jsonl``, the dead letters first; each file is written through
:func:`tfhub_llm.atomic.atomic_file`, so the answers file is the shard's commit: once it exists the
shard is complete, dead letters included. A re-run over the same OUTPUT skips the rows of finished
shards; temporary files of an interrupted run (``.part-*``) are removed and their shards redone.

``OUTPUT/_batch_run.json`` records what the results were computed from (the export's ``saved_model.pb``
digest, each input file's path and size, the columns, the shard size, the format); a re-run that
differs in any of them is refused, so a folder never mixes the answers of two runs.
"""

import hashlib
import json
import os
import pathlib

from tfhub_llm.atomic import atomic_file, write_text
from tfhub_llm.errors import InvalidArgumentError, TargetExistsError

JSONL, PARQUET = OUTPUT_FORMATS = ("jsonl", "parquet")
DEFAULT_ROWS_PER_SHARD = 10_000
DEAD_LETTER_DIR = "dead_letter"
RUN_RECORD = "_batch_run.json"
_PREFIX = "part-"
_ARROW_TYPES = {"string": "string", "float32": "float32", "float64": "float64", "int64": "int64",
                "int32": "int32", "bool": "bool_"}


def shard_name(file_index, line, rows_per_shard):
    """The name of the shard holding ``line`` (1-based) of the ``file_index``-th input file."""
    return f"{_PREFIX}{file_index:05d}-{(line - 1) // rows_per_shard:06d}" if line else f"{_PREFIX}{file_index:05d}-file"


def results_path(output_dir, name, output_format):
    return pathlib.Path(output_dir) / f"{name}.{output_format}"


def dead_letter_path(output_dir, name):
    return pathlib.Path(output_dir) / DEAD_LETTER_DIR / f"{name}.jsonl"


def finished_shards(output_dir, output_format):
    """The names of the shards whose answers file exists (complete, as it is renamed into place)."""
    suffix = f".{output_format}"
    folder = pathlib.Path(output_dir)
    if not folder.is_dir():
        return frozenset()
    return frozenset(path.name[:-len(suffix)] for path in folder.iterdir()
                     if path.name.startswith(_PREFIX) and path.name.endswith(suffix))


def remove_partial_files(output_dir):
    """Deletes the temporary files an interrupted run left (``.part-*``); returns how many."""
    removed = 0
    for folder in (pathlib.Path(output_dir), pathlib.Path(output_dir) / DEAD_LETTER_DIR):
        if folder.is_dir():
            for path in folder.glob(f".{_PREFIX}*"):
                path.unlink()
                removed += 1
    return removed


def prepare_output(output_dir, record):
    """Checks ``output_dir``'s run record against ``record`` (refusing a different run) or writes it."""
    path = pathlib.Path(output_dir) / RUN_RECORD
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(key for key in set(previous) | set(record) if previous.get(key) != record.get(key))
        if changed:
            raise TargetExistsError(
                f"{output_dir} holds the results of another run (it differs in {', '.join(changed)}); "
                "write to a new OUTPUT folder, or delete this one to start over")
    elif pathlib.Path(output_dir).is_dir() and any(pathlib.Path(output_dir).iterdir()):
        raise TargetExistsError(f"{output_dir} is not empty and holds no {RUN_RECORD}: write to a new OUTPUT folder")
    else:
        write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    remove_partial_files(output_dir)


def file_digest(path):
    """The sha256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_output_format(output_format):
    if output_format not in OUTPUT_FORMATS:
        raise InvalidArgumentError(f"the output format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    return output_format


def json_value(value):
    """An output value (numpy scalar or array, bytes) as JSON: text decoded, arrays as lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "tolist"):
        return json_value(value.tolist())
    if isinstance(value, list):
        return [json_value(item) for item in value]
    return value


def arrow_schema(outputs, id_column):
    """The Parquet schema of a run's answers: ``source``, ``line`` (and ``id``), then each output."""
    import pyarrow as pa

    fields = [pa.field("source", pa.string()), pa.field("line", pa.int64())]
    if id_column is not None:
        fields.append(pa.field("id", pa.string()))
    for name, (dtype, rank) in outputs.items():
        if dtype not in _ARROW_TYPES:
            raise InvalidArgumentError(f"output {name!r} has dtype {dtype}, which the Parquet writer does not take")
        arrow_type = getattr(pa, _ARROW_TYPES[dtype])()
        for _ in range(max(rank - 1, 0)):
            arrow_type = pa.list_(arrow_type)
        fields.append(pa.field(name, arrow_type))
    return pa.schema(fields)


def write_shard(output_dir, name, answers, dead_letters, output_format, schema=None):
    """Writes one shard: its dead letters (if any), then its answers, each file renamed into place when complete.

    ``answers`` and ``dead_letters`` are JSON-ready dicts, sorted here by line; ``schema`` is the
    Parquet schema (:func:`arrow_schema`) for ``output_format="parquet"``.
    """
    answers = sorted(answers, key=lambda record: record["line"])
    if dead_letters:
        _write_jsonl(dead_letter_path(output_dir, name), sorted(dead_letters, key=lambda record: record["line"]))
    target = results_path(output_dir, name, output_format)
    if output_format == PARQUET:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with atomic_file(target, suffix=".tmp") as temporary:
            pq.write_table(pa.Table.from_pylist(answers, schema=schema), temporary)
    else:
        _write_jsonl(target, answers)


def _write_jsonl(path, records):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_file(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")

"""``run_batch``: the Beam pipeline that scores input files with a TF Serving export into sharded outputs.

::

    Create(input files) ─▶ Read ─┬─ rows ─▶ Reshuffle ─▶ RunInference ─┬─ answers ──────────┐
                                 │                                     └─ failed batches ───┤
                                 └─ bad rows ───────────────────────────────────────────────┴─▶ GroupByKey(shard)
                                                                                                ─▶ write each shard

Read takes one file per call (matched and sorted by name); Reshuffle spreads its rows over the
workers; RunInference batches them (``BatchElements``) for :class:`ServingExportHandler`, whose model
each worker process loads once.

The launcher scans the export (:func:`tfhub_llm.hub.security.check_saved_model`) and checks the output
folder (:mod:`tfhub_llm.batch.shards`) before the pipeline starts; workers load the export once per
process. Rows of finished shards are read but not scored. Beam's counters ``rows_read``,
``rows_scored``, ``rows_failed`` and ``rows_skipped`` (namespace ``tfhub_llm_batch``, where
RunInference also reports its batch sizes and latencies) give the :class:`BatchSummary`. A batch the
export fails on goes to the dead letters row by row (RunInference's ``with_exception_handling``).

The pipeline runs on any Beam runner; ``pipeline_args`` are Beam's own options (``--runner``,
``--direct_num_workers``, ``--project``, ...). Without ``--runner`` it runs on the DirectRunner with one
worker thread per core this process may use, in one process sharing one loaded export: a thread's
Python work (batching, formatting answers) runs while another thread's model call, which releases the
GIL, keeps the cores busy (``bench/batch_inference.py`` measures the running modes).
"""

import dataclasses
import os
import time

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from tfhub_llm.batch import shards
from tfhub_llm.batch.handler import (DEFAULT_MAX_BATCH_SIZE, METRICS_NAMESPACE, ServingExportHandler,
                                     signature_spec)
from tfhub_llm.batch.readers import file_format, read_rows
from tfhub_llm.cpu_info import usable_cores
from tfhub_llm.errors import InvalidArgumentError, MissingFileError

COUNTERS = ("rows_read", "rows_scored", "rows_failed", "rows_skipped")
ANSWER, DEAD = "answer", "dead"
DIRECT_RUNNING_MODE = "multi_threading"


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    """What a run did: rows read, scored, failed (dead letters) and skipped (finished shards), in how many seconds
    (pipeline start, the workers' model load, reading, scoring and writing)."""

    rows_read: int
    rows_scored: int
    rows_failed: int
    rows_skipped: int
    model_load_seconds: float  # the longest load of the export by a worker (Beam's load_model_latency_milli_secs)
    seconds: float
    output_dir: str

    def format(self):
        rate = self.rows_scored / self.seconds if self.seconds > 0 else 0.0
        return (f"batch: {self.rows_read} rows read, {self.rows_scored} scored, {self.rows_failed} failed "
                f"(dead letters in {os.path.join(self.output_dir, shards.DEAD_LETTER_DIR)}), {self.rows_skipped} "
                f"skipped (finished shards); {rate:.1f} rows/s over {self.seconds:.1f} s, "
                f"{self.model_load_seconds:.1f} s of it loading the export")


def run_batch(export_dir, inputs, output_dir, *, columns=None, id_column=None, input_format=None,
              output_format=shards.JSONL, rows_per_shard=shards.DEFAULT_ROWS_PER_SHARD,
              max_batch_size=DEFAULT_MAX_BATCH_SIZE, trust=False, pipeline_args=()):
    """Scores every row of ``inputs`` with the export at ``export_dir``; writes shards to ``output_dir``.

    Args:
        export_dir: a TF Serving version folder written by ``export_for_serving``.
        inputs: a file, a glob pattern, or a list of them (JSON Lines, CSV, TSV, text or Parquet by suffix).
        output_dir: the output folder (created; a re-run over it resumes, see :mod:`tfhub_llm.batch.shards`).
        columns: ``{export input: column}``; by default each input reads the column of its own name.
        id_column: a column copied to each answer as ``id`` (answers always carry ``source`` and ``line``).
        input_format: read every input as this format (see :mod:`tfhub_llm.batch.readers`) instead of by suffix.
        output_format: ``"jsonl"`` or ``"parquet"``.
        rows_per_shard: lines of an input file per output shard.
        max_batch_size: the most rows in one call of the export.
        trust: skip the scan of the export.
        pipeline_args: Beam pipeline options, e.g. ``["--runner=DataflowRunner", "--project=..."]``.

    Returns:
        A :class:`BatchSummary`.
    """
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from tfhub_llm.hub.security import check_saved_model

    export_dir, output_dir = str(export_dir), str(output_dir)
    output_format = shards.checked_output_format(output_format)
    if rows_per_shard < 1:
        raise InvalidArgumentError(f"rows_per_shard must be >= 1, got {rows_per_shard}")
    check_saved_model(export_dir, trust=trust)  # before any worker loads it
    spec = signature_spec(export_dir)
    columns = _checked_columns(columns, spec.inputs)
    files = _matched_files(inputs)
    for path in files:
        file_format(path, input_format)
    schema = shards.arrow_schema(spec.outputs, id_column) if output_format == shards.PARQUET else None
    shards.prepare_output(output_dir, {
        "export_saved_model_sha256": shards.file_digest(os.path.join(export_dir, "saved_model.pb")),
        "inputs": [[path, size] for path, size in files.items()],
        "columns": columns, "id_column": id_column, "input_format": input_format,
        "output_format": output_format, "rows_per_shard": rows_per_shard})
    reader = _ReadRows(columns, id_column, input_format, rows_per_shard,
                       shards.finished_shards(output_dir, output_format))
    handler = KeyedModelHandler(ServingExportHandler(export_dir, trust=trust, max_batch_size=max_batch_size))

    started = time.perf_counter()
    pipeline = beam.Pipeline(options=PipelineOptions(_with_runner_defaults(pipeline_args)))
    rows = (pipeline
            | "Files" >> beam.Create(list(enumerate(files)))
            | "Read" >> beam.ParDo(reader).with_outputs(_ReadRows.BAD, main="rows"))
    answers, failures = (rows.rows
                         | "Spread" >> beam.Reshuffle()
                         | "Examples" >> beam.Map(lambda keyed: (keyed, keyed[1].inputs))
                         | "Score" >> RunInference(handler).with_exception_handling())
    (
        (answers | "Answers" >> beam.ParDo(_AnswerRecord(id_column)),
         failures.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch_rows)
         | "Failed" >> beam.ParDo(_DeadLetter()),
         rows[_ReadRows.BAD] | "Bad" >> beam.ParDo(_DeadLetter()))
        | beam.Flatten()
        | "ByShard" >> beam.GroupByKey()
        | "Write" >> beam.ParDo(_WriteShard(output_dir, output_format, schema)))
    result = pipeline.run()
    result.wait_until_finish()
    return BatchSummary(**_metric_values(result), seconds=time.perf_counter() - started, output_dir=output_dir)


def direct_num_workers():
    """The DirectRunner's default worker threads: one per core this process may run on."""
    return usable_cores()


def _with_runner_defaults(pipeline_args):
    """Beam options with the DirectRunner's defaults added unless a runner or the option is named: the
    multi_threading mode with a worker thread per core (:func:`direct_num_workers`; none added to a named
    ``in_memory`` mode, which runs one)."""
    args = list(pipeline_args)
    named = {arg.split("=")[0] for arg in args if arg.startswith("--")}
    if _option_value(args, "--runner", "DirectRunner") not in ("DirectRunner", "direct"):
        return args
    defaults = [f"--direct_running_mode={DIRECT_RUNNING_MODE}"]
    if _option_value(args, "--direct_running_mode", DIRECT_RUNNING_MODE) != "in_memory":
        defaults.insert(0, f"--direct_num_workers={direct_num_workers()}")
    defaults = [default for default in defaults if default.split("=")[0] not in named]
    return [*([] if "--runner" in named else ["--runner=DirectRunner"]), *defaults, *args]


def _option_value(args, name, default):
    """The value of option ``name`` (``--name=VALUE`` or ``--name VALUE``; the last one wins) in ``args``."""
    value = default
    for index, arg in enumerate(args):
        option, _, given = arg.partition("=")
        if option == name:
            value = given or (args[index + 1] if index + 1 < len(args) else "")
    return value


def _checked_columns(columns, input_names):
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(input_names))
    if unknown:
        raise InvalidArgumentError(f"the export takes the inputs {list(input_names)}; there is no input {unknown[0]!r} "
                                   "to read a column for")
    return {name: columns.get(name, name) for name in input_names}


def _matched_files(inputs):
    patterns = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    sizes = {}
    for pattern in map(str, patterns):
        matched = [metadata for result in FileSystems.match([pattern]) for metadata in result.metadata_list]
        if not matched:
            raise MissingFileError(f"{pattern}: no such input file")
        sizes.update((metadata.path, metadata.size_in_bytes) for metadata in matched)
    return dict(sorted(sizes.items()))


def _metric_values(result):
    """The counters of :data:`COUNTERS` and the longest model load (RunInference's own metric) of a finished run."""
    from apache_beam.metrics.metric import MetricsFilter

    counts = dict.fromkeys(COUNTERS, 0)
    metrics = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in metrics["counters"]:
        if counter.key.metric.name in counts:
            counts[counter.key.metric.name] += counter.committed or 0
    loads = [distribution.committed.max for distribution in metrics["distributions"]
             if distribution.key.metric.name == "load_model_latency_milli_secs" and distribution.committed]
    return {**counts, "model_load_seconds": max(loads, default=0) / 1000}


def _counter(name):
    return Metrics.counter(METRICS_NAMESPACE, name)


class _ReadRows(beam.DoFn):
    """``(file index, path)`` → ``(shard, Row)`` for each row to score; bad rows to the ``bad`` output.

    Rows of ``finished`` shards are counted as skipped and dropped.
    """

    BAD = "bad"

    def __init__(self, columns, id_column, input_format, rows_per_shard, finished):
        self._columns = columns
        self._id_column = id_column
        self._input_format = input_format
        self._rows_per_shard = rows_per_shard
        self._finished = finished
        self._read = _counter("rows_read")
        self._skipped = _counter("rows_skipped")

    def process(self, indexed_file):
        index, path = indexed_file
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as file:
            for row in read_rows(path, file, self._columns, self._input_format, self._id_column):
                shard = shards.shard_name(index, row.line, self._rows_per_shard)
                self._read.inc()
                if shard in self._finished:
                    self._skipped.inc()
                elif row.problem:
                    yield beam.pvalue.TaggedOutput(self.BAD, (shard, row))
                else:
                    yield shard, row


class _AnswerRecord(beam.DoFn):
    """``((shard, Row), PredictionResult)`` → ``(shard, ("answer", record))``."""

    def __init__(self, id_column):
        self._id_column = id_column
        self._scored = _counter("rows_scored")

    def process(self, keyed_result):
        (shard, row), result = keyed_result
        record = {"source": row.source, "line": row.line}
        if self._id_column is not None:
            record["id"] = row.row_id
        record.update({name: shards.json_value(value) for name, value in sorted(result.inference.items())})
        self._scored.inc()
        yield shard, (ANSWER, record)


def _failed_batch_rows(failed):
    """The rows of a batch the export failed on, each with the error as its problem.

    Beam gives the error as ``(type, repr(exception), traceback lines)``.
    """
    batch, (_, error, _) = failed
    for (shard, row), _ in batch:
        yield shard, dataclasses.replace(row, problem=f"the export failed on this row's batch: {error}")


class _DeadLetter(beam.DoFn):
    """``(shard, Row with a problem)`` → ``(shard, ("dead", record))``; the record names file, line, field and problem."""

    def __init__(self):
        self._failed = _counter("rows_failed")

    def process(self, keyed_row):
        shard, row = keyed_row
        self._failed.inc()
        yield shard, (DEAD, {"source": row.source, "line": row.line, "field": row.field, "problem": row.problem,
                             "error": str(row.error())})


class _WriteShard(beam.DoFn):
    """``(shard, [(kind, record)])`` → the shard's files, complete or absent."""

    def __init__(self, output_dir, output_format, schema):
        self._output_dir = output_dir
        self._output_format = output_format
        self._schema = schema

    def process(self, grouped):
        name, tagged = grouped
        records = {ANSWER: [], DEAD: []}
        for kind, record in tagged:
            records[kind].append(record)
        shards.write_shard(self._output_dir, name, records[ANSWER], records[DEAD], self._output_format, self._schema)
        yield name

"""run_batch on the DirectRunner: every export kind answers row by row as the export itself does; bad rows,
resumed runs, Parquet, a refused export, and the ``tfhub-llm batch`` command end to end."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from tests.batch.conftest import KIND_INPUTS, ROWS
from tests.harness import assert_one_line_error, cli_command, run_cli
from tfhub_llm.batch import shards
from tfhub_llm.batch.handler import ServingExportHandler, row_outputs
from tfhub_llm.batch.pipeline import run_batch
from tfhub_llm.errors import TargetExistsError
from tfhub_llm.hub.security import UntrustedModelError
from tfhub_llm.tf_serving import session_predict

pytestmark = pytest.mark.slow  # each test runs a Beam pipeline and loads an export
IN_MEMORY = ["--direct_num_workers=1", "--direct_running_mode=in_memory"]  # the fastest start for small inputs
BAD_LINES = [b'{"text": ""}\n', b'{"other": "x"}\n', b'\xff\xfe not UTF-8\n', b'{"text": 3}\n', b"[1, 2]\n"]


def write_jsonl(path, records, extra_lines=()):
    with open(path, "wb") as file:
        for index, record in enumerate(records):
            file.write(json.dumps({"id": f"row-{index}", **record}, ensure_ascii=False).encode() + b"\n")
        file.writelines(extra_lines)
    return path


def read_jsonl(paths):
    return [json.loads(line) for path in sorted(paths) for line in open(path, encoding="utf-8")]


def assert_answer_equals(got, want, where):
    """One output row against the export's own answer for that row."""
    assert sorted(got) == sorted(want), where
    for name, value in want.items():
        value = np.asarray(value)
        if value.dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(got[name], dtype=value.dtype), value, atol=1e-5, err_msg=where)
        else:
            expected = value.tolist()
            expected = [v.decode() for v in expected] if value.dtype == object and value.ndim else (
                expected.decode() if isinstance(expected, bytes) else expected)
            assert got[name] == expected, (where, name)


@pytest.mark.parametrize("kind", sorted(KIND_INPUTS))
def test_each_export_kind_answers_as_the_export_row_by_row(kind, serving_export, tmp_path):
    export = serving_export(kind)
    inputs = KIND_INPUTS[kind]
    records = [{name: ROWS[name][i] for name in inputs} for i in range(len(ROWS["text"]))]
    source = write_jsonl(tmp_path / "in.jsonl", records, BAD_LINES)
    summary = run_batch(export, source, tmp_path / "out", id_column="id", rows_per_shard=4, max_batch_size=4,
                        pipeline_args=IN_MEMORY)

    assert (summary.rows_read, summary.rows_scored, summary.rows_failed, summary.rows_skipped) == (11, 6, 5, 0)
    expected = session_predict(export, {name: [record[name] for record in records] for name in inputs})
    answers = read_jsonl((tmp_path / "out").glob("part-*.jsonl"))
    assert [(answer["source"], answer["line"], answer["id"]) for answer in answers] == [
        (str(source), line, f"row-{line - 1}") for line in range(1, 7)]
    for index, answer in enumerate(answers):
        got = {key: value for key, value in answer.items() if key not in ("source", "line", "id")}
        assert_answer_equals(got, row_outputs(expected, index), f"line {index + 1}")
    assert sorted(path.name for path in (tmp_path / "out").glob("part-*")) == [
        "part-00000-000000.jsonl", "part-00000-000001.jsonl", "part-00000-000002.jsonl"]


@pytest.mark.parametrize("kind", ["classifier", "entities"])
def test_the_default_options_answer_as_the_export_row_by_row(kind, serving_export, tmp_path):
    """No Beam options: the DirectRunner's worker threads (one per core) score batches side by side."""
    export = serving_export(kind)
    texts = [f"{ROWS['text'][index % len(ROWS['text'])]} {index}" for index in range(48)]
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in texts])
    summary = run_batch(export, source, tmp_path / "out", rows_per_shard=16, max_batch_size=8)

    assert (summary.rows_read, summary.rows_scored, summary.rows_failed) == (48, 48, 0)
    expected = session_predict(export, {"text": texts})
    answers = read_jsonl((tmp_path / "out").glob("part-*.jsonl"))
    assert [answer["line"] for answer in answers] == list(range(1, 49))
    for index, answer in enumerate(answers):
        got = {key: value for key, value in answer.items() if key not in ("source", "line")}
        assert_answer_equals(got, row_outputs(expected, index), f"line {index + 1}")


def test_bad_rows_go_to_the_dead_letter_output_with_file_line_and_field(serving_export, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "good"}], BAD_LINES)
    summary = run_batch(serving_export("classifier"), source, tmp_path / "out", pipeline_args=IN_MEMORY)
    assert (summary.rows_scored, summary.rows_failed) == (1, 5)
    dead = read_jsonl((tmp_path / "out" / "dead_letter").glob("*.jsonl"))
    assert [(d["line"], d["field"], d["problem"].split(" (")[0].split(";")[0]) for d in dead] == [
        (2, "text", "empty text"), (3, "text", "missing"), (4, None, "is not valid UTF-8"),
        (5, "text", "expected a string, got 3"), (6, None, "expected a JSON object, got list")]
    assert dead[2]["error"] == f"{source}: line 4: is not valid UTF-8 (invalid start byte at byte 0 of the line)"
    assert "rows/s" in summary.format() and "5 failed" in summary.format()


def test_the_export_is_loaded_once_per_process_and_shared_by_its_worker_threads(serving_export, tmp_path,
                                                                               monkeypatch):
    loads = []
    load_model = ServingExportHandler.load_model

    def counted_load(self):
        loads.append(os.getpid())
        return load_model(self)

    monkeypatch.setattr(ServingExportHandler, "load_model", counted_load)
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": f"text number {index}"} for index in range(40)])
    summary = run_batch(serving_export("classifier"), source, tmp_path / "out", max_batch_size=4,
                        pipeline_args=["--direct_num_workers=2", "--direct_running_mode=multi_threading"])
    assert summary.rows_scored == 40 and loads == [os.getpid()]  # 10 batches or more, one load
    assert summary.model_load_seconds > 0


def test_a_batch_the_export_fails_on_goes_to_the_dead_letters_and_the_rest_is_scored(serving_export, tmp_path,
                                                                                      monkeypatch):
    run_inference = ServingExportHandler.run_inference

    def failing(self, batch, model, inference_args=None):
        if any(example["text"] == "boom" for example in batch):
            raise RuntimeError("the model server fell over")
        return run_inference(self, batch, model, inference_args)

    monkeypatch.setattr(ServingExportHandler, "run_inference", failing)
    texts = ["one", "two", "three", "boom", "five", "six", "seven", "eight"]
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in texts])
    summary = run_batch(serving_export("classifier"), source, tmp_path / "out", max_batch_size=4,
                        pipeline_args=IN_MEMORY)
    dead = read_jsonl((tmp_path / "out" / "dead_letter").glob("*.jsonl"))
    assert 1 <= summary.rows_failed == len(dead) <= 4 and summary.rows_scored == 8 - summary.rows_failed
    assert 4 in [record["line"] for record in dead], dead
    assert all(record["problem"] == "the export failed on this row's batch: RuntimeError('the model server fell over')"
               for record in dead), dead
    scored = [answer["line"] for answer in read_jsonl((tmp_path / "out").glob("part-*.jsonl"))]
    assert sorted(scored + [record["line"] for record in dead]) == list(range(1, 9))


def test_a_rerun_skips_finished_shards_and_redoes_half_written_ones(serving_export, tmp_path):
    export = serving_export("classifier")
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text} for text in ROWS["text"]], BAD_LINES[:1])
    out = tmp_path / "out"
    run_batch(export, source, out, rows_per_shard=2, pipeline_args=IN_MEMORY)
    first = {path.name: path.read_bytes() for path in out.glob("part-*")}
    assert len(first) == 4  # lines 1-2, 3-4, 5-6 and the bad line 7
    # An interrupted run: shard 1 was never renamed into place, its temporary file half written.
    (out / "part-00000-000001.jsonl").unlink()
    (out / ".part-00000-000001.jsonl.x1y2.tmp").write_text('{"source": "half')
    (out / "dead_letter" / "part-00000-000003.jsonl").unlink()  # dead letters of a finished shard stay as they are

    summary = run_batch(export, source, out, rows_per_shard=2, pipeline_args=IN_MEMORY)
    assert (summary.rows_read, summary.rows_scored, summary.rows_failed, summary.rows_skipped) == (7, 2, 0, 5)
    assert {path.name: path.read_bytes() for path in out.glob("part-*")} == first
    assert not list(out.glob(".part-*")) and not (out / "dead_letter" / "part-00000-000003.jsonl").exists()


def test_a_rerun_with_other_settings_is_refused(serving_export, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "good"}])
    run_batch(serving_export("classifier"), source, tmp_path / "out", pipeline_args=IN_MEMORY)
    with pytest.raises(TargetExistsError, match="another run.*rows_per_shard"):
        run_batch(serving_export("classifier"), source, tmp_path / "out", rows_per_shard=5, pipeline_args=IN_MEMORY)
    with pytest.raises(TargetExistsError, match="another run.*export_saved_model_sha256"):
        run_batch(serving_export("embedder"), source, tmp_path / "out", pipeline_args=IN_MEMORY)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(TargetExistsError, match="not empty"):
        run_batch(serving_export("classifier"), source, tmp_path / "other", pipeline_args=IN_MEMORY)


def test_parquet_in_and_out_with_an_embedder(serving_export, tmp_path):
    export = serving_export("embedder")
    texts = ROWS["text"][:3] + [None]
    pq.write_table(pa.table({"doc": texts, "key": [10, 11, 12, 13]}), tmp_path / "in.parquet")
    summary = run_batch(export, tmp_path / "in.parquet", tmp_path / "out", columns={"text": "doc"}, id_column="key",
                        output_format="parquet", pipeline_args=IN_MEMORY)
    assert (summary.rows_scored, summary.rows_failed) == (3, 1)
    table = pq.read_table(tmp_path / "out" / "part-00000-000000.parquet")
    assert table.column_names == ["source", "line", "id", "embedding"]
    assert table.column("id").to_pylist() == ["10", "11", "12"] and table.column("line").to_pylist() == [1, 2, 3]
    expected = session_predict(export, {"text": texts[:3]})["embedding"]
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist()), expected, atol=1e-5)
    dead = read_jsonl((tmp_path / "out" / "dead_letter").glob("*.jsonl"))
    assert dead[0]["error"].startswith(f"{tmp_path / 'in.parquet'}: row 4: field 'doc': missing")


def test_an_export_that_fails_the_scan_is_refused_before_any_worker_loads_it(tmp_path):
    target = tmp_path / "written_by_the_model"

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text):
            tf.io.write_file(str(target), "pwned")
            return {"length": tf.strings.length(text)}

    module = Writer()
    tf.saved_model.save(module, str(tmp_path / "export"), signatures={"serving_default": module.serve})
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello"}])
    with pytest.raises(UntrustedModelError, match="WriteFile"):
        run_batch(tmp_path / "export", source, tmp_path / "out", pipeline_args=IN_MEMORY)
    assert not target.exists() and not (tmp_path / "out").exists()


def test_the_cli_scores_a_csv_file_end_to_end(serving_export, tmp_path):
    source = tmp_path / "reviews.csv"
    source.write_text('review,stars\n"Great, really.",5\n,1\nfine,3\n', encoding="utf-8")
    result = run_cli(cli_command("batch", serving_export("classifier"), source, tmp_path / "out",
                                 "--text-column", "review", "--direct_num_workers=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 rows read, 2 scored, 1 failed" in result.stdout and "rows/s" in result.stdout
    answers = read_jsonl((tmp_path / "out").glob("part-*.jsonl"))
    assert [answer["line"] for answer in answers] == [2, 4]
    assert {answer["label_name"] for answer in answers} <= {"negative", "neutral", "positive"}
    assert shards.finished_shards(tmp_path / "out", "jsonl") == {"part-00000-000000"}

    missing = run_cli(cli_command("batch", serving_export("classifier"), tmp_path / "none-*.csv", tmp_path / "o2"))
    assert_one_line_error(missing, "batch", ["none-*.csv", "no such input file"])
    wrong = run_cli(cli_command("batch", serving_export("classifier"), source, tmp_path / "o3", "--question-column", "q"))
    assert_one_line_error(wrong, "batch", ["the export takes the inputs ['text']", "'question'"])
    assert not os.path.exists(tmp_path / "o3")

"""run_batch's Beam options: the DirectRunner with a worker thread per core unless the caller names a runner or the option."""

import os

import pytest

from tfhub_llm.batch import pipeline
from tfhub_llm.batch.pipeline import _with_runner_defaults


@pytest.mark.parametrize("cores", [1, 2, 8])
def test_the_direct_runner_gets_a_worker_thread_per_core_unless_told_otherwise(cores, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert pipeline.direct_num_workers() == cores
    assert _with_runner_defaults([]) == [
        "--runner=DirectRunner", f"--direct_num_workers={cores}", "--direct_running_mode=multi_threading"]
    assert _with_runner_defaults(["--runner=DirectRunner", "--direct_num_workers=1"]) == [
        "--direct_running_mode=multi_threading", "--runner=DirectRunner", "--direct_num_workers=1"]
    assert _with_runner_defaults(["--direct_running_mode=in_memory"]) == [
        "--runner=DirectRunner", "--direct_running_mode=in_memory"]  # one thread: Beam warns of more
    assert _with_runner_defaults(["--direct_running_mode", "multi_processing"]) == [
        "--runner=DirectRunner", f"--direct_num_workers={cores}", "--direct_running_mode", "multi_processing"]


def test_without_an_affinity_call_the_workers_are_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert pipeline.direct_num_workers() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert pipeline.direct_num_workers() == 1


def test_other_runners_get_their_options_untouched():
    for args in (["--runner", "DataflowRunner", "--project", "p"], ["--runner=FlinkRunner", "--flink_master=h:8081"]):
        assert _with_runner_defaults(args) == args

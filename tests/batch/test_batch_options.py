"""run_batch's Beam options: the DirectRunner on both cores unless the caller names a runner or the option."""

from tfhub_llm.batch.pipeline import _with_runner_defaults


def test_the_direct_runner_gets_two_worker_threads_unless_told_otherwise():
    assert _with_runner_defaults([]) == [
        "--runner=DirectRunner", "--direct_num_workers=2", "--direct_running_mode=multi_threading"]
    assert _with_runner_defaults(["--runner=DirectRunner", "--direct_num_workers=1"]) == [
        "--direct_running_mode=multi_threading", "--runner=DirectRunner", "--direct_num_workers=1"]
    assert _with_runner_defaults(["--direct_running_mode=in_memory"])[1:] == [
        "--direct_num_workers=2", "--direct_running_mode=in_memory"]


def test_other_runners_get_their_options_untouched():
    for args in (["--runner", "DataflowRunner", "--project", "p"], ["--runner=FlinkRunner", "--flink_master=h:8081"]):
        assert _with_runner_defaults(args) == args

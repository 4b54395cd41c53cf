"""The benchmark's pure-Python parts: workload building, sorted sub-batches, equality checks, targets, table."""

import importlib
import json
import sys

import pytest

from tests.harness import REPO

BENCH = REPO / "bench"


def _import_bench(*names):
    sys.path.insert(0, str(BENCH))
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        sys.path.remove(str(BENCH))


wl, report, registry, peers = _import_bench("workload", "report", "systems", "peers")


def test_sub_batches_sort_by_length_and_go_back_in_order():
    lengths = [5, 1, 4, 2, 3, 9, 7]
    groups = wl.sub_batches(lengths, 3)
    assert groups == [[1, 3, 4], [2, 0, 6], [5]]
    assert sorted(index for group in groups for index in group) == list(range(len(lengths)))
    outputs = [[f"row{index}" for index in group] for group in groups]
    assert wl.in_input_order(groups, outputs) == [f"row{index}" for index in range(len(lengths))]


class _LengthTokens:
    """Stands for the fast tokenizer: a text's "inputs" are its length, cut into sorted sub-batches."""

    def batches(self, texts, parts=None):
        groups = [list(range(len(texts)))] if parts is None else wl.sub_batches([len(t) for t in texts], parts)
        for group in groups:
            yield group, [len(texts[i]) for i in group]


def test_sub_batches_side_by_side_give_the_rows_of_the_sequential_run_in_input_order():
    texts = ["a" * n for n in (5, 1, 9, 3, 7, 2, 8, 4)]
    rows_of = lambda lengths: [[length, -length] for length in lengths]  # noqa: E731
    sequential = peers.TokenizedClassifier(_LengthTokens(), rows_of, parts=4).predict(texts)
    side_by_side = peers.TokenizedClassifier(_LengthTokens(), rows_of, parts=4, side_by_side=True).predict(texts)
    assert side_by_side == sequential == [[len(t), -len(t)] for t in texts]


def test_sub_batches_of_a_tiny_batch_and_bad_parts():
    assert wl.sub_batches([3], 4) == [[0]]
    assert wl.sub_batches([], 4) == []
    with pytest.raises(ValueError, match="parts"):
        wl.sub_batches([1, 2], 0)
    with pytest.raises(ValueError):
        wl.in_input_order([[0, 1]], [["only one row"]])


def test_percentile_matches_linear_interpolation():
    values = [4.0, 1.0, 3.0, 2.0]
    assert wl.percentile(values, 50) == 2.5
    assert wl.percentile(values, 0) == 1.0 and wl.percentile(values, 100) == 4.0
    assert wl.percentile(list(range(101)), 99) == 99.0


def _squad(path, contexts):
    data = {"data": [{"paragraphs": [{"context": context} for context in contexts]}]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_build_workload_keeps_file_order_and_disjoint_training(tmp_path):
    sentences = [f"sentence {'word ' * (i % 5)}{i}" for i in range(10)]
    squad = _squad(tmp_path / "squad.json", [f"context {i}" for i in range(5)])
    workload = wl.build_workload(sentences, list(range(10)), squad, 2, 1, 1, batch_size=3)
    assert workload["sentences"] == [sentences[0:3], sentences[3:6]]
    assert workload["train"] == [sentences[6:9]] and workload["train_labels"] == [[6, 7, 8]]
    assert workload["long"] == [["context 0", "context 1", "context 2"]]
    assert workload["median_sentence"] in sentences[:6]
    assert len(workload["median_sentence"].split()) == sorted(len(s.split()) for s in sentences[:6])[3]


def test_build_workload_refuses_too_few_texts(tmp_path):
    squad = _squad(tmp_path / "squad.json", ["one context"])
    with pytest.raises(ValueError, match="needs 6 held-out sentences"):
        wl.build_workload(["a", "b"], [0, 1], squad, 1, 0, 1, batch_size=3)
    with pytest.raises(ValueError, match="squad.json"):
        wl.build_workload(["a"] * 6, [0] * 6, squad, 1, 1, 1, batch_size=3)


def test_agreement_counts_labels_and_the_largest_difference():
    difference, labels = report.agreement([[0.2, 0.8], [0.6, 0.4]], [[0.25, 0.75], [0.4, 0.6]])
    assert difference == pytest.approx(0.2) and labels == 0.5
    with pytest.raises(ValueError, match="rows"):
        report.agreement([[0.5, 0.5]], [])


def _figures(**speeds):
    return {name: {"label": name, **phases} for name, phases in speeds.items()}


def test_targets_use_our_best_path_and_the_best_peer_variant():
    figures = _figures(
        ours_serving={"sentences": {"per_second": 200.0}, "latency_short": {"p50_ms": 9.0}},
        ours_litert_int8={"sentences": {"per_second": 500.0}, "latency_short": {"p50_ms": 3.0}},
        ours_keras={"train": {"per_second": 60.0}},
        ort_fp32={"sentences": {"per_second": 150.0}, "latency_short": {"p50_ms": 2.0}},
        ort_fp32_opt_sorted4={"sentences": {"per_second": 250.0}},
        ort_int8_sorted4={"sentences": {"per_second": 450.0}},
        kerashub_fit={"train": {"per_second": 31.0}},
        torch_fp32_fit={"train": {"per_second": 50.0}},
    )
    by_what = {check["what"]: check for check in report.targets(figures)}
    int8 = by_what["our fastest path at batch 32 >= best ONNX Runtime int8"]
    assert int8["ours"] == ("ours_litert_int8", 500.0) and int8["peer"] == ("ort_int8_sorted4", 450.0)
    assert int8["holds"]
    fp32 = by_what["our fp32 serving export at batch 32 >= best ONNX Runtime fp32"]
    assert fp32["peer"] == ("ort_fp32_opt_sorted4", 250.0) and not fp32["holds"]
    assert not by_what["training (fit) >= 2x KerasHub"]["holds"]  # 60 / 31 < 2
    assert by_what["training (fit) >= HF torch fp32"]["holds"]
    short = next(check for what, check in by_what.items() if "short sentence" in what)
    assert short["ours"] == ("ours_litert_int8", 3.0) and not short["holds"]
    median = next(check for what, check in by_what.items() if "median" in what)
    assert median["holds"] is None and median["missing"] == "ours"
    assert len(by_what) == 6


def test_the_fp32_target_takes_the_faster_of_our_two_thread_settings_and_every_ort_fp32_variant():
    figures = _figures(
        ours_serving={"sentences": {"per_second": 200.0}},
        ours_serving_threads={"sentences": {"per_second": 300.0}},
        ours_serving_bf16_compute={"sentences": {"per_second": 900.0}},  # not fp32: never the fp32 side
        ort_fp32_sorted4={"sentences": {"per_second": 250.0}},
        ort_fp32_parallel4={"sentences": {"per_second": 320.0}},
    )
    fp32 = next(check for check in report.targets(figures) if check["what"].startswith("our fp32 serving export"))
    assert fp32["ours"] == ("ours_serving_threads", 300.0) and fp32["peer"] == ("ort_fp32_parallel4", 320.0)
    assert not fp32["holds"]


def test_equality_checks_hold_within_tolerance_only():
    systems = [registry.System("ref", "ref", "w", registry.INFERENCE),
               registry.System("close", "close", "w", registry.INFERENCE, "ref", 1e-4),
               registry.System("far", "far", "w", registry.INFERENCE, "ref", 1e-4),
               registry.System("int8", "int8", "w", registry.INFERENCE, "ref")]
    rows = {"ref": [[0.5, 0.5]], "close": [[0.50001, 0.49999]], "far": [[0.6, 0.4]], "int8": [[0.4, 0.6]]}
    replies = {name: {"probabilities": [{"probabilities": value}]} for name, value in rows.items()}
    checks = {check["system"]: check for check in report.equality_checks(systems, replies)}
    assert checks["close"]["holds"] and checks["far"]["holds"] is False and checks["int8"]["holds"] is None


def test_summary_and_table_from_replies():
    systems = registry.selected_systems(bfloat16=False, kerashub=False)
    workload = {"batch_size": 2, "sentences": [["a", "b"], ["c", "d"]], "long": [["x", "y"]], "train": [["a", "b"]]}
    replies = {system.name: {} for system in systems}
    replies["ours_serving"] = {
        "sentences": [{"seconds": 0.04}, {"seconds": 0.02}], "latency_short": [{"p50_ms": 9.0, "p99_ms": 12.0}],
        "lengths": [{"lengths": {"sentences": [3, 5, 4, 4], "long": [128, 100]}}],
        "peak": [{"fp32_gflops": 300.0, "bf16_gflops": 1200.0}], "encoder": [{"encoder_seconds": 0.01}]}
    replies["ort_int8"] = {"sentences": [{"seconds": 0.01}], "long": [{"error": "long: RuntimeError: boom"}]}
    result = report.summarise(systems, replies, workload)
    assert result["systems"]["ours_serving"]["sentences"]["per_second"] == pytest.approx(200.0)
    assert result["systems"]["ours_serving"]["sentences"]["of_peak"]["bf16"] == pytest.approx(
        result["systems"]["ours_serving"]["sentences"]["useful_gflops"] / 1200.0)
    assert result["tokens"]["sentences"]["mean_batch_max"] == 4.5
    table = report.format_table(result)
    assert "| ours: TF Serving export, fp32 | 200.0 | 1.00x |" in table
    assert "| ONNX Runtime int8 (optimized) | 400.0 | 2.00x |" in table
    assert "MISS our fastest path at batch 32 >= best ONNX Runtime int8" in table
    assert "ERROR ort_int8: long: RuntimeError: boom" in table


def test_details_name_each_model_file_once():
    details = {"bytes": 23e6, "fused_ops": {"SkipLayerNormalization": 12}}
    figures = _figures(ort_int8={"details": details}, ort_int8_sorted4={"details": details},
                       ort_int8_per_channel={"details": {"bytes": 24e6, "fused_ops": {}}}, ours_keras={})
    assert report._details_lines(figures) == [
        "Model files: ort_int8 23.0 MB, ort_int8_per_channel 24.0 MB.",
        "ONNX Runtime's BERT optimizer fused: SkipLayerNormalization x12."]


def test_medians_of_the_rounds_beside_the_best_and_the_targets_on_medians():
    systems = registry.selected_systems(bfloat16=False, kerashub=False)
    workload = {"batch_size": 2, "sentences": [["a", "b"], ["c", "d"]], "long": [["x", "y"]], "train": [["a", "b"]]}
    replies = {system.name: {} for system in systems}
    replies["ours_serving"] = {"sentences": [{"seconds": s} for s in (0.04, 0.02, 0.08)],
                               "latency_short": [{"p50_ms": p, "p99_ms": 2 * p} for p in (9.0, 7.0, 8.0)]}
    replies["ort_fp32"] = {"sentences": [{"seconds": s} for s in (0.01, 0.05, 0.05)],
                           "latency_short": [{"p50_ms": 3.0, "p99_ms": 4.0}]}
    result = report.summarise(systems, replies, workload)
    ours = result["systems"]["ours_serving"]
    assert ours["sentences"]["per_second"] == pytest.approx(200.0)  # the best round
    assert ours["sentences"]["median_per_second"] == pytest.approx(100.0)
    assert (ours["latency_short"]["p50_ms"], ours["latency_short"]["median_p50_ms"]) == (7.0, 8.0)
    fp32 = next(check for check in result["targets"] if check["what"].startswith("our fp32 serving export"))
    assert fp32["ours"] == ("ours_serving", pytest.approx(100.0)) and fp32["peer"] == ("ort_fp32", pytest.approx(80.0))
    assert fp32["holds"]  # on medians, though ONNX Runtime's best round (400/s) is faster
    result["run"] = {"cpu": {"description": "AMD EPYC, 2 cores, avx2 fma"}, "command": "bench/run.py", "rounds": 3,
                     "load_average": [0.5, 0.6, 0.7]}
    table = report.format_table(result)
    assert table.startswith("CPU: AMD EPYC, 2 cores, avx2 fma. `bench/run.py`: 3 interleaved rounds")
    assert "| ours: TF Serving export, fp32 | 200.0 | 1.00x | 100.0 (1.00x) |" in table
    assert "| 8.0 / 16.0 (7.0) |" in table


def test_the_thread_setting_chosen_is_checked_against_tensorflows_default_on_medians():
    figures = _figures(ours_serving={"sentences": {"per_second": 300.0, "median_per_second": 200.0}},
                       ours_serving_threads={"sentences": {"per_second": 260.0, "median_per_second": 180.0}})
    default = report.thread_setting_check(figures, "default")
    assert default["holds"] and default["ratio"] == 1.0 and default["one_thread_per_op_ratio"] == pytest.approx(0.9)
    per_op = report.thread_setting_check(figures, "one_thread_per_op")
    assert per_op["holds"] is False and per_op["ratio"] == pytest.approx(0.9)
    assert "MISS thread setting chosen for this CPU (one thread per op)" in report._thread_line(per_op)[0]
    assert report.thread_setting_check({}, "default")["holds"] is None


def test_the_exports_batch_1_latency_with_the_chosen_threads_against_onnx_runtime_fp32():
    figures = _figures(ours_serving={"latency_short": {"p50_ms": 5.0, "median_p50_ms": 6.0}},
                       ours_serving_threads={"latency_short": {"p50_ms": 2.0, "median_p50_ms": 2.5}},
                       ort_fp32={"latency_short": {"p50_ms": 2.5, "median_p50_ms": 3.0}},
                       ort_fp32_opt={"latency_short": {"p50_ms": 2.0, "median_p50_ms": 4.0}})
    [default] = report.export_latency_checks(figures, "default")
    assert default["ours"] == ("ours_serving", 6.0) and default["peer"] == ("ort_fp32", 3.0) and not default["holds"]
    [per_op] = report.export_latency_checks(figures, "one_thread_per_op")
    assert per_op["ours"] == ("ours_serving_threads", 2.5) and per_op["holds"]

"""From the workers' raw replies to figures, equality checks, issue 18's targets and the printed table.

Standard library only (``bench/run.py`` imports it). Each figure comes twice: a system's best round
(``per_second``, ``p50_ms``) and the median of its interleaved rounds (``median_per_second``,
``median_p50_ms``); the targets compare medians (a figure of one round is its own median).
``results.json`` keeps every round's raw seconds next to them.
"""

import json
import os
import statistics

import flops

THROUGHPUT_PHASES = ("sentences", "long", "train")  # each times the workload's set of the same name
LATENCY_PHASES = ("latency_short", "latency_median")
TRAINING_OVER_KERASHUB = 2.0


def _ok(replies):
    return [reply for reply in replies if "error" not in reply]


def _system_figures(system, replies, counts):
    figures = {"label": system.label}
    for phase in THROUGHPUT_PHASES:
        times = [reply["seconds"] for reply in _ok(replies.get(phase, []))]
        if times:
            figures[phase] = {"per_second": counts[phase] / min(times),
                              "median_per_second": counts[phase] / statistics.median(times), "seconds": times}
    for phase in LATENCY_PHASES:
        rounds = _ok(replies.get(phase, []))
        if rounds:
            best = min(rounds, key=lambda reply: reply["p50_ms"])
            figures[phase] = {"p50_ms": best["p50_ms"], "p99_ms": best["p99_ms"],
                              "median_p50_ms": statistics.median(reply["p50_ms"] for reply in rounds),
                              "median_p99_ms": statistics.median(reply["p99_ms"] for reply in rounds),
                              "rounds": [[reply["p50_ms"], reply["p99_ms"]] for reply in rounds]}
    info = _ok(replies.get("info", []))
    if info and info[0]["details"]:
        figures["details"] = info[0]["details"]
    errors = [reply["error"] for phase_replies in replies.values() for reply in phase_replies if "error" in reply]
    if errors:
        figures["error"] = errors[0]
    return figures


def agreement(probabilities, reference):
    """Largest absolute difference of two ``[rows][classes]`` lists and the share of equal argmax labels."""
    if len(probabilities) != len(reference):
        raise ValueError(f"{len(probabilities)} rows of probabilities against {len(reference)} of the reference")
    difference = max(abs(a - b) for row, ref in zip(probabilities, reference) for a, b in zip(row, ref))
    labels = sum(_argmax(row) == _argmax(ref) for row, ref in zip(probabilities, reference))
    return difference, labels / len(reference)


def _argmax(row):
    return max(range(len(row)), key=row.__getitem__)


def equality_checks(systems, replies):
    """Each system against its reference's probabilities on the same sentences."""
    def probabilities(name):
        ok = _ok(replies.get(name, {}).get("probabilities", []))
        return ok[0]["probabilities"] if ok else None

    checks = []
    for system in systems:
        if system.reference is None:
            continue
        mine, theirs = probabilities(system.name), probabilities(system.reference)
        if mine is None or theirs is None:
            continue
        difference, labels = agreement(mine, theirs)
        checks.append({"system": system.name, "reference": system.reference, "max_abs_difference": difference,
                       "label_agreement": labels, "tolerance": system.tolerance,
                       "holds": None if system.tolerance is None else difference < system.tolerance})
    return checks


def median(phase_figures, key):
    """The median of the rounds of ``key`` (``per_second``, ``p50_ms``): its own value when it has one round."""
    return phase_figures.get(f"median_{key}", phase_figures[key])


def _best(figures, names, phase, key, pick=max):
    """``(name, value)`` of the best of ``names`` on the median of ``figures[name][phase][key]``, or None when none
    has it."""
    values = [(name, median(figures[name][phase], key)) for name in names if phase in figures.get(name, {})]
    return pick(values, key=lambda pair: pair[1]) if values else None


def targets(figures):
    """Issue 18's targets, each with both sides' figures, the ratio and whether it holds (ratios of this run)."""
    ours = [name for name in figures if name.startswith("ours")]
    ort_fp32 = [name for name in figures if name.startswith("ort_fp32")]
    ort_int8 = [name for name in figures if name.startswith("ort_int8")]
    wanted = [
        ("our fastest path at batch 32 >= best ONNX Runtime int8", _best(figures, ours, "sentences", "per_second"),
         _best(figures, ort_int8, "sentences", "per_second"), 1.0, "higher"),
        ("our fp32 serving export at batch 32 >= best ONNX Runtime fp32",
         _best(figures, ("ours_serving", "ours_serving_threads"), "sentences", "per_second"),
         _best(figures, ort_fp32, "sentences", "per_second"), 1.0, "higher"),
        ("training (fit) >= 2x KerasHub", _best(figures, ["ours_keras"], "train", "per_second"),
         _best(figures, ["kerashub_fit"], "train", "per_second"), TRAINING_OVER_KERASHUB, "higher"),
        ("training (fit) >= HF torch fp32", _best(figures, ["ours_keras"], "train", "per_second"),
         _best(figures, ["torch_fp32_fit"], "train", "per_second"), 1.0, "higher"),
    ]
    for phase, text in (("latency_short", "short"), ("latency_median", "median-length")):
        wanted.append((f"batch-1 p50 of our fastest path <= best ONNX Runtime fp32, {text} sentence (ms)",
                       _best(figures, ours, phase, "p50_ms", min), _best(figures, ort_fp32, phase, "p50_ms", min),
                       1.0, "lower"))
    checks = []
    for what, mine, theirs, factor, better in wanted:
        if mine is None or theirs is None:
            checks.append({"what": what, "holds": None, "missing": "ours" if mine is None else "peer"})
            continue
        ratio = mine[1] / theirs[1]
        holds = ratio >= factor if better == "higher" else ratio <= factor
        checks.append({"what": what, "ours": mine, "peer": theirs, "ratio": ratio, "holds": holds})
    return checks


def thread_setting_check(figures, chosen):
    """Issue 28: the thread setting chosen for this CPU (``chosen``: ``"one_thread_per_op"`` or ``"default"``) is
    never slower than TensorFlow's default, on the medians of the fp32 export with each setting at batch 32."""
    def speed(name):
        phase_figures = figures.get(name, {}).get("sentences")
        return median(phase_figures, "per_second") if phase_figures else None

    default, per_op = speed("ours_serving"), speed("ours_serving_threads")
    if default is None or (chosen == "one_thread_per_op" and per_op is None):
        return {"chosen": chosen, "holds": None}
    mine = per_op if chosen == "one_thread_per_op" else default
    return {"chosen": chosen, "chosen_per_second": mine, "default_per_second": default, "ratio": mine / default,
            "one_thread_per_op_ratio": per_op / default if per_op else None, "holds": mine >= default}


def export_latency_checks(figures, chosen):
    """Issue 28: batch-1 p50 (median of the rounds) of our TF Serving export with the thread setting chosen for this
    CPU <= the best ONNX Runtime fp32 row's, on the short and on the median-length sentence."""
    export = "ours_serving_threads" if chosen == "one_thread_per_op" else "ours_serving"
    ort_fp32 = [name for name in figures if name.startswith("ort_fp32")]
    checks = []
    for phase, text in (("latency_short", "short"), ("latency_median", "median-length")):
        mine, theirs = _best(figures, [export], phase, "p50_ms", min), _best(figures, ort_fp32, phase, "p50_ms", min)
        if mine and theirs:
            checks.append({"what": f"batch-1 p50 of our TF Serving export <= best ONNX Runtime fp32, {text} sentence "
                                   "(ms; issue 28)", "ours": mine, "peer": theirs, "ratio": mine[1] / theirs[1],
                           "holds": mine[1] <= theirs[1]})
    return checks


def summarise(systems, replies, workload):
    """Figures per system, tokens, matmul peaks, useful GFLOP/s, equality checks and targets."""
    counts = {name: sum(len(batch) for batch in workload[name]) for name in THROUGHPUT_PHASES}
    figures = {system.name: _system_figures(system, replies[system.name], counts) for system in systems}
    result = {"systems": figures, "equality": equality_checks(systems, replies)}
    reference = replies.get("ours_serving", {})
    lengths = _ok(reference.get("lengths", []))
    peaks = _ok(reference.get("peak", []))
    if lengths and peaks:
        lengths = lengths[0]["lengths"]
        batch_size = workload["batch_size"]
        result["tokens"] = {name: {"mean": sum(values) / len(values),
                                   "mean_batch_max": _mean_batch_max(values, batch_size)}
                            for name, values in lengths.items()}
        peak = {"fp32": max(reply["fp32_gflops"] for reply in peaks),
                "bf16": max((reply["bf16_gflops"] or 0 for reply in peaks), default=0) or None}
        result["peak_gflops"] = peak
        useful = {name: flops.useful_flops(flops.MINILM_L6_H384, values) for name, values in lengths.items()}
        for system_figures in figures.values():
            for phase in ("sentences", "long"):
                if phase in system_figures:
                    gflops = useful[phase] / 1e9 * system_figures[phase]["per_second"] / counts[phase]
                    system_figures[phase]["useful_gflops"] = gflops
                    system_figures[phase]["of_peak"] = {precision: gflops / value
                                                        for precision, value in peak.items() if value}
        encoder = [reply["encoder_seconds"] for reply in _ok(reference.get("encoder", []))]
        if encoder:
            gflops = useful["sentences"] / 1e9 / min(encoder)
            result["encoder_only_sentences"] = {"useful_gflops": gflops, "of_fp32_peak": gflops / peak["fp32"],
                                                "per_second": counts["sentences"] / min(encoder),
                                                "seconds": encoder}
    result["targets"] = targets(figures)
    return result


def _mean_batch_max(values, batch_size):
    batches = [values[i:i + batch_size] for i in range(0, len(values), batch_size)]
    return sum(max(batch) for batch in batches) / len(batches)


def _cell(figures, phase, key, digits=1):
    return f"{figures[phase][key]:.{digits}f}" if phase in figures else ""


def _median_cell(figures, base):
    """The median sentences/s and its ratio to our fp32 export's median."""
    if "sentences" not in figures:
        return ""
    speed = median(figures["sentences"], "per_second")
    return f"{speed:.1f}" + (f" ({speed / base:.2f}x)" if base else "")


def _latency_cell(figures, phase):
    """Median p50 / p99 of the rounds, the best round's p50 in brackets."""
    if phase not in figures:
        return ""
    return (f"{median(figures[phase], 'p50_ms'):.1f} / {median(figures[phase], 'p99_ms'):.1f} "
            f"({figures[phase]['p50_ms']:.1f})")


def _run_lines(run):
    """The CPU, the load and the rounds of the run, above the table."""
    if not run:
        return []
    cpu = run.get("cpu", {})
    load = ", ".join(f"{value:.1f}" for value in run.get("load_average", []))
    return [f"CPU: {cpu.get('description', run.get('machine', 'unknown'))}. `{run.get('command', '')}`: "
            f"{run.get('rounds')} interleaved rounds; sentences/s of the best round and the median of the rounds, "
            f"other figures medians (batch 1: the best round's p50 in brackets); load average at the end {load}.", ""]


def _thread_line(check):
    if not check or check["holds"] is None:
        return []
    chosen = {"default": "TensorFlow's defaults", "one_thread_per_op": "one thread per op"}[check["chosen"]]
    per_op = check.get("one_thread_per_op_ratio")
    aside = f"; one thread per op would be {per_op:.2f}x" if per_op and check["chosen"] == "default" else ""
    return [f"    {'OK  ' if check['holds'] else 'MISS'} thread setting chosen for this CPU ({chosen}) >= "
            f"TensorFlow's default, fp32 export at batch 32 (issue 28): {check['chosen_per_second']:.1f} vs "
            f"{check['default_per_second']:.1f} ({check['ratio']:.2f}x{aside})"]


def _gflops_cell(figures):
    if "useful_gflops" not in figures.get("sentences", {}):
        return ""
    shares = " / ".join(f"{100 * share:.0f}%" for share in figures["sentences"]["of_peak"].values())
    return f"{figures['sentences']['useful_gflops']:.0f} ({shares})"


def _details_lines(figures):
    """Model file sizes and the ONNX optimizer's fusions, once per model (sorted variants share their plain one's)."""
    sizes, fusions, shown = [], {}, {}
    for name, system_figures in figures.items():
        details = system_figures.get("details")
        if not details or any(name.startswith(seen) and details == same for seen, same in shown.items()):
            continue
        shown[name] = details
        sizes.append(f"{name} {details['bytes'] / 1e6:.1f} MB")
        fusions.update(details.get("fused_ops", {}))
    lines = [f"Model files: {', '.join(sizes)}."] if sizes else []
    if fusions:
        lines.append("ONNX Runtime's BERT optimizer fused: " + ", ".join(f"{op} x{n}" for op, n in fusions.items()) + ".")
    return lines


def format_table(result):
    """The Markdown table of every system, then tokens, peaks, equality checks and targets."""
    figures = result["systems"]
    base = figures.get("ours_serving", {}).get("sentences", {}).get("per_second")
    base_median = median(figures["ours_serving"]["sentences"], "per_second") if base else None
    lines = _run_lines(result.get("run")) + [
        "| system | sentences/s, batch 32, best round | vs ours fp32 | sentences/s, median of rounds (vs ours fp32) "
        "| long texts/s | useful GFLOP/s on sentences (of fp32 / bf16 peak) | batch 1, short: median p50 / p99 ms "
        "(best p50) | batch 1, median: median p50 / p99 ms (best p50) | fit, sentences/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for system_figures in figures.values():
        speed = system_figures.get("sentences", {}).get("per_second")
        ratio = f"{speed / base:.2f}x" if speed and base else ""
        lines.append(" | ".join([f"| {system_figures['label']}", _cell(system_figures, "sentences", "per_second"),
                                 ratio, _median_cell(system_figures, base_median),
                                 _cell(system_figures, "long", "per_second"), _gflops_cell(system_figures),
                                 _latency_cell(system_figures, "latency_short"),
                                 _latency_cell(system_figures, "latency_median"),
                                 _cell(system_figures, "train", "per_second")]) + " |")
    lines.append("")
    tokens = result.get("tokens", {})
    if tokens:
        lines.append(f"Word pieces per text (with [CLS], [SEP]): sentences {tokens['sentences']['mean']:.1f} "
                     f"(batch maximum {tokens['sentences']['mean_batch_max']:.1f} on average), long texts "
                     f"{tokens['long']['mean']:.1f} (cut at 128; batch maximum {tokens['long']['mean_batch_max']:.1f}).")
    peak = result.get("peak_gflops")
    if peak:
        bf16 = f", bfloat16 {peak['bf16']:.0f}" if peak.get("bf16") else ""
        lines.append(f"TensorFlow matmul peak: float32 {peak['fp32']:.0f} GFLOP/s{bf16}.")
    encoder = result.get("encoder_only_sentences")
    if encoder:
        lines.append(f"Our encoder alone on the pre-packed sentence batches: {encoder['per_second']:.0f} sentences/s, "
                     f"{encoder['useful_gflops']:.0f} useful GFLOP/s ({100 * encoder['of_fp32_peak']:.0f}% of fp32 peak).")
    lines += _details_lines(figures)
    lines.append("Equality checks (probabilities on the same sentences; fresh, untrained heads):")
    for check in result["equality"]:
        verdict = {True: "OK  ", False: "FAIL", None: "info"}[check["holds"]]
        tolerance = f" (tolerance {check['tolerance']:g})" if check["tolerance"] is not None else ""
        lines.append(f"    {verdict} {check['system']} vs {check['reference']}: max |difference| "
                     f"{check['max_abs_difference']:.2e}{tolerance}, labels agree {100 * check['label_agreement']:.1f}%")
    lines.append("Targets of issues 18 and 28 (ratios of this run's medians):")
    for check in result["targets"] + result.get("export_latency", []):
        if check["holds"] is None:
            lines.append(f"    n/a  {check['what']}: no figure for the {check['missing']} side")
            continue
        (mine, mine_value), (peer, peer_value) = check["ours"], check["peer"]
        lines.append(f"    {'OK  ' if check['holds'] else 'MISS'} {check['what']}: {mine} {mine_value:.1f} vs "
                     f"{peer} {peer_value:.1f} ({check['ratio']:.2f}x)")
    lines += _thread_line(result.get("threads"))
    for name, system_figures in figures.items():
        if "error" in system_figures:
            lines.append(f"ERROR {name}: {system_figures['error'].strip().splitlines()[-1]}")
    return "\n".join(lines)


def write_results(result, path):
    """Writes the results JSON through a temporary sibling, so readers never see half of it."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)

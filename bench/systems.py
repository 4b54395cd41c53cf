"""Which systems ``make bench`` measures, in which worker process each runs, and what it is checked against.

Standard library only. A worker (``WORKERS``) is one process: ours each in its own (bfloat16 is a
process-wide switch), the torch variants in one, the ONNX Runtime variants in another. Each system
names its worker, its timed phases, and for the equality checks the system whose probabilities it
must match (``reference``) with a tolerance on the largest difference (None: reported only).
"""

import dataclasses

ROUND_PHASES = ("sentences", "long", "train", "latency_short", "latency_median")
INFERENCE = ("sentences", "long", "latency_short", "latency_median")
SORTED = ("sentences", "long")  # a batch of one has nothing to sort
FP32_TOLERANCE = 1e-4


@dataclasses.dataclass(frozen=True)
class System:
    name: str
    label: str
    worker: str
    phases: tuple
    reference: str | None = None
    tolerance: float | None = None  # for the check against ``reference``; None: reported only

    @property
    def infers(self):
        return "sentences" in self.phases


def _ours(name, label, phases=INFERENCE, reference="ours_serving", tolerance=None):
    return System(name, label, name, phases, reference, tolerance)


def _peer(name, label, worker, reference="torch_fp32", tolerance=None, parallel=False):
    """A peer variant and the same with sorted sub-batches (and, with ``parallel``, those sub-batches run side by
    side on 4 threads with one thread per op, as ours do), which must match it within the same tolerance."""
    variants = [System(name, label, worker, INFERENCE, reference, tolerance),
                System(f"{name}_sorted4", f"{label}, 4 sorted sub-batches", worker, SORTED, name, tolerance)]
    if parallel:
        variants.append(System(f"{name}_parallel4", f"{label}, 4 sorted sub-batches side by side, 1 thread per op",
                               worker, SORTED, name, tolerance))
    return variants


def selected_systems(bfloat16=True, kerashub=True, kerashub_inference=False):
    """Every system of one run, in table order."""
    systems = [_ours("ours_serving", "ours: TF Serving export, fp32", reference=None),
               _ours("ours_serving_threads", "ours: TF Serving export, fp32, 1 thread per op, micro-batches side by side",
                     tolerance=FP32_TOLERANCE)]
    if bfloat16:
        systems.append(_ours("ours_serving_bf16", "ours: export + enable_cpu_bfloat16()"))
        systems.append(_ours("ours_serving_bf16_compute", "ours: export, BERT with bfloat16 matmuls"))
    systems += [
        _ours("ours_litert_float32", "ours: LiteRT float32", tolerance=FP32_TOLERANCE),
        _ours("ours_litert_int8", "ours: LiteRT dynamic int8"),
        _ours("ours_litert_int8_whole", "ours: LiteRT dynamic int8, whole batches", phases=SORTED,
              reference="ours_litert_int8", tolerance=FP32_TOLERANCE),
        _ours("ours_keras", "ours: Keras fit", phases=("train",), reference=None),
        *_peer("torch_fp32", "HF torch fp32", "torch", reference=None, tolerance=FP32_TOLERANCE),
        *_peer("torch_bf16", "HF torch bf16 autocast", "torch"),
        System("torch_fp32_fit", "HF torch fp32 fit", "torch", ("train",)),
        *_peer("ort_fp32", "ONNX Runtime fp32", "onnx", tolerance=FP32_TOLERANCE, parallel=True),
        *_peer("ort_fp32_opt", "ONNX Runtime fp32, BERT optimizer", "onnx", tolerance=FP32_TOLERANCE, parallel=True),
        *_peer("ort_int8", "ONNX Runtime int8 (optimized)", "onnx", parallel=True),
        *_peer("ort_int8_per_channel", "ONNX Runtime int8 per channel", "onnx", parallel=True),
    ]
    if kerashub:
        systems.append(System("kerashub_fit", "KerasHub 0.32 fit", "kerashub", ("train",)))
        if kerashub_inference:
            systems.append(System("kerashub", "KerasHub 0.32 (pads to 128)", "kerashub", SORTED))
    return systems


def worker_commands(ours_python, peer_python, bench, workload_path, models, hf_dir):
    """Worker name -> command line."""
    ours = [str(ours_python), str(bench / "ours.py")]
    litert = [str(ours_python), str(bench / "ours_litert.py")]
    peers = [str(peer_python), str(bench / "peers.py")]
    return {
        "ours_serving": ours + ["serving", "ours_serving", workload_path] + models,
        "ours_serving_threads": ours + ["serving", "ours_serving_threads", workload_path] + models
        + ["--inference-threads"],
        "ours_serving_bf16": ours + ["serving", "ours_serving_bf16", workload_path] + models + ["--bfloat16"],
        "ours_serving_bf16_compute": ours + ["serving", "ours_serving_bf16_compute", workload_path] + models
        + ["--bfloat16-compute", hf_dir],
        "ours_keras": ours + ["keras", "ours_keras", workload_path] + models,
        "ours_litert_float32": litert + ["float32", "ours_litert_float32", workload_path] + models,
        "ours_litert_int8": litert + ["int8", "ours_litert_int8", workload_path] + models,
        "ours_litert_int8_whole": litert + ["int8", "ours_litert_int8_whole", workload_path] + models
        + ["--micro-batches", "1"],
        **{name: peers + [name, workload_path, hf_dir] for name in ("torch", "onnx", "kerashub")},
    }

"""CPU thread pools for inference, chosen per CPU: TensorFlow's defaults, or each op on one thread.

TensorFlow's CPU default splits every op across all cores (its intra-op pool) and runs independent
ops on another pool of as many threads (inter-op). The alternative runs each op on one thread and up
to 4 ops at once, so :class:`~tfhub_llm.layers.hub_layers.HubEncoder`'s length-sorted micro-batches (independent
branches of one graph) run side by side. Which is faster depends on the CPU (``make bench`` measures
both; ``bench/README.md``): one thread per op was 1.35x faster on a 2-core Intel Xeon with AMX, and
slower on 2-core AMD EPYCs, with AVX2 only (0.89x) and with AVX-512 but no AMX. So
:func:`inference_threads` chooses from the CPU's instruction sets (:mod:`tfhub_llm.cpu_info`): one thread
per op only where it was measured faster, on CPUs with AMX and at most as many cores as micro-batches
(with more cores, one thread per op would leave cores idle); TensorFlow's defaults everywhere else.
:func:`use_inference_threads` applies the choice to this process; :func:`model_server_flags` gives it as
``tensorflow_model_server`` flags. Training keeps TensorFlow's defaults: its ops are large enough to split.
"""

import dataclasses

from tfhub_llm.cpu_info import read_cpu_info
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.layers.micro_batches import DEFAULT_MICRO_BATCHES

# Where one thread per op was measured faster than TensorFlow's defaults (bench/README.md, per CPU kind).
ONE_THREAD_PER_OP_FLAGS = ("amx_tile",)


@dataclasses.dataclass(frozen=True)
class ThreadSetting:
    """TensorFlow's two CPU thread pools: threads per op (intra-op) and ops at once (inter-op)."""

    intra_op: int
    inter_op: int

    def apply(self):
        """Sets this process's pools. Must happen before TensorFlow runs anything: its pools are fixed then."""
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(self.intra_op)
            tf.config.threading.set_inter_op_parallelism_threads(self.inter_op)
        except RuntimeError as error:
            raise InvalidArgumentError(
                "use_inference_threads() must be called before TensorFlow runs anything (it has already "
                f"started its thread pools): {error}") from None

    def model_server_flags(self):
        """The ``tensorflow_model_server`` flags that set the same pools."""
        return [f"--tensorflow_intra_op_parallelism={self.intra_op}",
                f"--tensorflow_inter_op_parallelism={self.inter_op}"]


def one_thread_per_op(inter_op_threads=DEFAULT_MICRO_BATCHES):
    """Each op on one thread, up to ``inter_op_threads`` ops at once (the micro-batches side by side)."""
    if inter_op_threads < 1:
        raise InvalidArgumentError(f"inter_op_threads must be at least 1, got {inter_op_threads}.")
    return ThreadSetting(intra_op=1, inter_op=inter_op_threads)


def inference_threads(inter_op_threads=DEFAULT_MICRO_BATCHES, cpu=None):
    """The thread setting for inference on ``cpu`` (default: this machine's, :func:`~tfhub_llm.cpu_info.read_cpu_info`):
    :func:`one_thread_per_op`, or None for TensorFlow's defaults (see the module docstring)."""
    setting = one_thread_per_op(inter_op_threads)
    cpu = cpu or read_cpu_info()
    if cpu.has(*ONE_THREAD_PER_OP_FLAGS) and cpu.cores <= inter_op_threads:
        return setting
    return None


def use_inference_threads(inter_op_threads=DEFAULT_MICRO_BATCHES, cpu=None):
    """Applies :func:`inference_threads` to this process and returns it (None: TensorFlow's defaults are kept).

    Call it before TensorFlow runs anything: its thread pools are fixed then.
    """
    setting = inference_threads(inter_op_threads, cpu)
    if setting:
        setting.apply()
    return setting


def model_server_flags(inter_op_threads=DEFAULT_MICRO_BATCHES, cpu=None):
    """The ``tensorflow_model_server`` flags of :func:`inference_threads` (none where TensorFlow's defaults win)."""
    setting = inference_threads(inter_op_threads, cpu)
    return setting.model_server_flags() if setting else []


def describe_choice(setting, cpu=None):
    """One line saying which thread setting was chosen for ``cpu`` and why, for the CLI to print."""
    cpu = cpu or read_cpu_info()
    if setting:
        return (f"threads: one per op, up to {setting.inter_op} ops at once (chosen for this CPU: "
                f"{cpu.describe()}; it has {', '.join(ONE_THREAD_PER_OP_FLAGS)})")
    return f"threads: TensorFlow's defaults (chosen for this CPU: {cpu.describe()})"

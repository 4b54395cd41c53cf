"""Opt-in bfloat16 on CPUs that compute it natively (AVX512-BF16 or AMX-BF16).

``enable_cpu_bfloat16()`` turns on TensorFlow's oneDNN auto-mixed-precision rewrite: matmuls and
their neighbours run in bfloat16 while variables stay float32, so it applies to TF-Hub
SavedModels as they are (no Keras dtype policy has to reach inside them). Measured in
``bench/README.md``: no accuracy loss on SST-2, and speed-ups that depend on the shapes.
"""

import tensorflow as tf

from tfhub_llm.errors import UnsupportedPlatformError

CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU advertises native bfloat16 matmul instructions."""
    try:
        with open(cpuinfo, encoding="utf-8") as file:
            flags = file.read()
    except OSError:
        return False
    return any(flag in flags for flag in CPU_FLAGS)


def enable_cpu_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Runs later graphs' matmuls in bfloat16 through oneDNN; refuses CPUs without native bfloat16."""
    if not cpu_has_bfloat16(cpuinfo):
        raise UnsupportedPlatformError(
            f"This CPU has none of {', '.join(CPU_FLAGS)} ({cpuinfo}): bfloat16 would be emulated and slower, "
            "so it stays off."
        )
    tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})

"""Opt-in bfloat16 on CPUs that compute it natively (AVX512-BF16 or AMX-BF16).

``enable_cpu_bfloat16()`` turns on TensorFlow's oneDNN auto-mixed-precision rewrite: matmuls and
their neighbours run in bfloat16 while variables stay float32, so it applies to TF-Hub
SavedModels as they are (no Keras dtype policy has to reach inside them). Measured in
``bench/README.md``: no accuracy loss on SST-2, and speed-ups that depend on the shapes.
"""

import tensorflow as tf

from tfhub_llm.cpu_info import BFLOAT16_FLAGS, CPUINFO, read_cpu_info
from tfhub_llm.errors import UnsupportedPlatformError


def cpu_has_bfloat16(cpuinfo=CPUINFO):
    """Whether the CPU advertises native bfloat16 matmul instructions."""
    return read_cpu_info(cpuinfo).bfloat16


def enable_cpu_bfloat16(cpuinfo=CPUINFO):
    """Runs later graphs' matmuls in bfloat16 through oneDNN; refuses CPUs without native bfloat16."""
    if not cpu_has_bfloat16(cpuinfo):
        raise UnsupportedPlatformError(
            f"This CPU has none of {', '.join(BFLOAT16_FLAGS)} ({cpuinfo}): bfloat16 would be emulated and slower, "
            "so it stays off."
        )
    tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})

"""The opt-in CPU bfloat16 mode."""

import pytest
import tensorflow as tf

from tfhub_llm.precision import cpu_has_bfloat16, enable_cpu_bfloat16


def test_cpus_without_native_bfloat16_are_refused(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f\n")
    assert not cpu_has_bfloat16(str(cpuinfo))
    with pytest.raises(RuntimeError, match="avx512_bf16, amx_bf16.*stays off"):
        enable_cpu_bfloat16(str(cpuinfo))
    assert not tf.config.optimizer.get_experimental_options().get("auto_mixed_precision_onednn_bfloat16")


def test_bfloat16_rewrite_is_switched_on(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16\n")
    previous = tf.config.optimizer.get_experimental_options()
    try:
        enable_cpu_bfloat16(str(cpuinfo))
        assert tf.config.optimizer.get_experimental_options()["auto_mixed_precision_onednn_bfloat16"]
    finally:
        tf.config.optimizer.set_experimental_options(
            {"auto_mixed_precision_onednn_bfloat16": previous.get("auto_mixed_precision_onednn_bfloat16", False)}
        )

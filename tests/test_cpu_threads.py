"""use_inference_threads / model_server_flags: the thread setting chosen per CPU, and applying it."""

import subprocess
import sys

import pytest
import tensorflow as tf

from harness import REPO
from tfhub_llm.cpu_info import CpuInfo, read_cpu_info
from tfhub_llm.cpu_threads import (ThreadSetting, describe_choice, inference_threads, model_server_flags,
                                   one_thread_per_op, use_inference_threads)
from tfhub_llm.errors import InvalidArgumentError

# The CPU kinds measured so far (bench/README.md): where one thread per op won, and where it lost.
XEON_AMX = CpuInfo("Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2,
                   frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"}))
EPYC_AVX2 = CpuInfo("AMD EPYC 7B12", 2, frozenset({"avx2", "fma"}))
EPYC_AVX512 = CpuInfo("AMD EPYC", 2, frozenset({"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"}))

_FRESH_PROCESS = """
from tfhub_llm.cpu_info import CpuInfo
from tfhub_llm.cpu_threads import use_inference_threads
use_inference_threads(3, cpu=CpuInfo("AMX CPU", 2, frozenset({"amx_tile"})))
import tensorflow as tf
print(tf.reduce_sum(tf.range(4)).numpy(), tf.config.threading.get_intra_op_parallelism_threads(),
      tf.config.threading.get_inter_op_parallelism_threads())
"""


def test_a_fresh_process_runs_with_one_thread_per_op():
    result = subprocess.run([sys.executable, "-c", _FRESH_PROCESS], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["6", "1", "3"]


def test_once_tensorflow_runs_the_pools_are_fixed_and_the_error_says_so():
    tf.constant(1.0) + 1.0  # the pools start with the first op
    with pytest.raises(InvalidArgumentError, match="before TensorFlow runs anything"):
        use_inference_threads(cpu=XEON_AMX)


def test_at_least_one_inter_op_thread():
    with pytest.raises(InvalidArgumentError, match="at least 1, got 0"):
        use_inference_threads(0)


def test_model_server_flags_match_the_in_process_settings():
    assert model_server_flags(4, cpu=XEON_AMX) == ["--tensorflow_intra_op_parallelism=1",
                                                   "--tensorflow_inter_op_parallelism=4"]
    assert model_server_flags(4, cpu=XEON_AMX) == one_thread_per_op(4).model_server_flags()


def test_one_thread_per_op_only_where_it_was_measured_faster():
    assert inference_threads(cpu=XEON_AMX) == ThreadSetting(intra_op=1, inter_op=4)
    assert inference_threads(cpu=EPYC_AVX2) is None
    assert inference_threads(cpu=EPYC_AVX512) is None


def test_tensorflows_defaults_when_one_thread_per_op_would_leave_cores_idle():
    many_cores = CpuInfo(XEON_AMX.model, 16, XEON_AMX.flags)
    assert inference_threads(cpu=many_cores) is None
    assert inference_threads(16, cpu=many_cores) == ThreadSetting(intra_op=1, inter_op=16)


def test_where_tensorflows_defaults_win_nothing_is_set_and_no_flag_is_given():
    tf.constant(1.0) + 1.0  # even with the pools started, keeping the defaults needs nothing
    assert use_inference_threads(cpu=EPYC_AVX2) is None
    assert model_server_flags(cpu=EPYC_AVX2) == []


def test_the_choice_is_explained_with_the_cpu_named():
    assert describe_choice(None, EPYC_AVX2) == "threads: TensorFlow's defaults (chosen for this CPU: AMD EPYC 7B12, 2 cores, avx2 fma)"
    line = describe_choice(inference_threads(cpu=XEON_AMX), XEON_AMX)
    assert line.startswith("threads: one per op, up to 4 ops at once (chosen for this CPU: Intel(R) Xeon(R)")
    assert "amx_tile" in line


def test_cpuinfo_gives_the_model_name_and_instruction_sets(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n\n"
                       "processor\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni\n")
    cpu = read_cpu_info(cpuinfo)
    assert cpu.model == "AMD EPYC"
    assert cpu.isa == ["avx2", "fma", "avx512f", "avx512_vnni"]
    assert cpu.has("avx512f") and not cpu.has("amx_tile")
    assert cpu.cores >= 1


def test_an_unreadable_cpuinfo_is_an_unknown_cpu_with_tensorflows_defaults(tmp_path):
    cpu = read_cpu_info(tmp_path / "missing")
    assert (cpu.model, cpu.flags) == ("unknown CPU", frozenset())
    assert inference_threads(cpu=cpu) is None

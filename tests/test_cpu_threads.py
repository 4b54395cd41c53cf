"""use_inference_threads / model_server_flags: one thread per op, the micro-batches side by side."""

import subprocess
import sys

import pytest
import tensorflow as tf

from harness import REPO
from tfhub_llm.cpu_threads import model_server_flags, use_inference_threads
from tfhub_llm.errors import InvalidArgumentError

_FRESH_PROCESS = """
from tfhub_llm.cpu_threads import use_inference_threads
use_inference_threads(3)
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
        use_inference_threads()


def test_at_least_one_inter_op_thread():
    with pytest.raises(InvalidArgumentError, match="at least 1, got 0"):
        use_inference_threads(0)


def test_model_server_flags_match_the_in_process_settings():
    assert model_server_flags(4) == ["--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=4"]

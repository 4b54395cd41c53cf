"""TensorFlow's start-up noise, turned down before TensorFlow loads (``import tfhub_llm`` calls it first).

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when it loads: set later, it cannot hide the CUDA,
cpu-feature and grappler ("Type inference failed") lines. Level 2 keeps errors; a value the user set
wins. The warning filtered here is known to be harmless for this package's models: Keras noting a
``shuffle`` it ignores for a dataset. Nothing filters tf.function retracing warnings: fits and
predicts over batches of new lengths do not retrace (Keras traces its steps with ``reduce_retracing``
and the packed length is a tensor, not a Python value; ``tests/training/test_run.py`` checks it).
Only the first lines that TensorFlow's C++ side prints before its logging starts
(``WARNING: All log messages before absl::InitializeLog() ...``) are beyond reach.
"""

import os
import warnings

HARMLESS_WARNINGS = (r"`shuffle=True` was passed, but will be ignored",)


def before_tensorflow():
    """Sets TensorFlow's C++ log level (unless set) and filters the known-harmless warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)

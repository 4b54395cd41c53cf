"""TensorFlow's start-up noise, turned down before TensorFlow loads (``import tfhub_llm`` calls it first).

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when it loads: set later, it cannot hide the CUDA,
cpu-feature and grappler ("Type inference failed") lines. Level 2 keeps errors; a value the user set
wins. The warnings filtered here are known to be harmless for this package's models: Keras noting a
``shuffle`` it ignores for a dataset, and TensorFlow noting retraces of functions that see batches
of a new length (each batch is padded to its longest text by design; Keras traces with
``reduce_retracing``). Only the first lines that TensorFlow's C++ side prints before its logging
starts (``WARNING: All log messages before absl::InitializeLog() ...``) are beyond reach.
"""

import logging
import os
import warnings

HARMLESS_WARNINGS = (r"`shuffle=True` was passed, but will be ignored",)
HARMLESS_LOG_LINES = ("triggered tf.function retracing",)


def before_tensorflow():
    """Sets TensorFlow's C++ log level (unless set) and filters the known-harmless warnings and log lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    logging.getLogger("tensorflow").addFilter(_drop_harmless_lines)


def _drop_harmless_lines(record):
    return not any(line in record.getMessage() for line in HARMLESS_LOG_LINES)

"""CPU thread pools for inference: each op on one thread, the micro-batches side by side.

TensorFlow's CPU default splits every op across all cores (its intra-op pool) and runs independent
ops on another pool of as many threads (inter-op). A BERT layer over a micro-batch of a few short
sentences is too small to gain from being split: the threads spend their time meeting. The
micro-batches of :class:`~tfhub_llm.layers.hub_layers.HubEncoder` are independent branches of one graph, so
one thread per op with the micro-batches running side by side keeps the cores busier (``make
bench`` measures both; ``bench/README.md``). :func:`use_inference_threads` sets that for this
process; :func:`model_server_flags` gives the same settings as ``tensorflow_model_server`` flags.
Training keeps TensorFlow's defaults: its ops are large enough to split.
"""

import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.layers.micro_batches import DEFAULT_MICRO_BATCHES

INTRA_OP_THREADS = 1


def use_inference_threads(inter_op_threads=DEFAULT_MICRO_BATCHES):
    """Runs each op of this process on one thread and up to ``inter_op_threads`` ops at once.

    Must be called before TensorFlow runs anything: its thread pools are fixed then.
    """
    if inter_op_threads < 1:
        raise InvalidArgumentError(f"inter_op_threads must be at least 1, got {inter_op_threads}.")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    except RuntimeError as error:
        raise InvalidArgumentError(
            "use_inference_threads() must be called before TensorFlow runs anything (it has already "
            f"started its thread pools): {error}") from None


def model_server_flags(inter_op_threads=DEFAULT_MICRO_BATCHES):
    """The ``tensorflow_model_server`` flags that give TF Serving the settings of :func:`use_inference_threads`."""
    return [f"--tensorflow_intra_op_parallelism={INTRA_OP_THREADS}",
            f"--tensorflow_inter_op_parallelism={inter_op_threads}"]

"""Serving exports over hub preprocessors whose own packing older TF Serving releases cannot load.

Model Garden's preprocessors (tf-models-official 2.13 and later, so most published today) pack
with ``TFText>RoundRobinTrim`` and ``TFText>RoundRobinGenerateMasks``, which the TF Text 2.12.1
inside TF Serving 2.12-2.19 lacks. ``unservable_packing_ops`` finds such ops in a preprocessor's
``bert_pack_inputs``; ``servable_packing`` then traces the model with the package's ragged-op
packing (:func:`tfhub_llm.bert.preprocessing.pack_inputs`, the same ids) of the preprocessor's own
``tokenize`` output. Tokenizing stays the preprocessor's: WordPiece and SentencePiece ops are in
TF Text 2.12.1.
"""

import contextlib

import tensorflow as tf


def bert_pack_inputs_ops(preprocessor):
    """Op types of the preprocessor's own ``bert_pack_inputs`` on its ``tokenize`` output."""
    tokens = preprocessor.tokenize(tf.constant(["probe"]))
    segment_spec = tf.RaggedTensorSpec([None, *tokens.shape[1:]], tokens.dtype, tokens.ragged_rank,
                                       tokens.row_splits.dtype)
    pack = tf.function(lambda segment: preprocessor.module.bert_pack_inputs(
        [segment], seq_length=preprocessor.max_seq_length))
    graph = pack.get_concrete_function(segment_spec).graph.as_graph_def()
    functions = {function.signature.name for function in graph.library.function}
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    return {node.op for node in nodes} - functions


def unservable_packing_ops(preprocessor, tf_serving_version=None):
    """Ops of ``bert_pack_inputs`` that TF Serving ``tf_serving_version`` lacks (default: the oldest known)."""
    from tfhub_llm.export import check  # check imports the serving export, which imports this module

    release = tf_serving_version or check.tf_serving_releases()[0]
    return sorted(bert_pack_inputs_ops(preprocessor) - check.tf_serving_ops(release))


@contextlib.contextmanager
def servable_packing(preprocessor):
    """Traces a model with ragged-op packing when the preprocessor's own packing is not servable.

    Yields whether it does: the export must then leave the preprocessor's own packing functions
    out of the SavedModel (their ops would still be in its graph), keeping only ``tokenize``.
    """
    previous = preprocessor.pack_with_ragged_ops
    preprocessor.pack_with_ragged_ops = previous or bool(unservable_packing_ops(preprocessor))
    try:
        yield preprocessor.pack_with_ragged_ops
    finally:
        preprocessor.pack_with_ragged_ops = previous

"""Which packing a serving signature uses over a hub preprocessor: its own, or ragged-op packing.

Model Garden's preprocessors (tf-models-official 2.13 and later, so most published today) pack
with ``TFText>RoundRobinTrim`` and ``TFText>RoundRobinGenerateMasks``, which the TF Text 2.12.1
inside TF Serving 2.12-2.19 lacks. :func:`unservable_packing_ops` finds such ops in a preprocessor's
``bert_pack_inputs``; a signature over such a preprocessor traces
``pack_inputs(..., ragged_ops=True)`` (:func:`tfhub_llm.layers.pack_inputs`: the same ids, from
core TF and TF Text 2.12 ops) and saves only :class:`TokenizeOnly` of it, so the export holds no
function of the preprocessor's own packing. Tokenizing stays the preprocessor's: WordPiece and
SentencePiece ops are in TF Text 2.12.1.
"""

import tensorflow as tf

from tfhub_llm.tf_serving.releases import tf_serving_ops, tf_serving_releases


def bert_pack_inputs_ops(preprocessor):
    """Op types of a :class:`~tfhub_llm.layers.HubPreprocessor`'s own ``bert_pack_inputs`` on its ``tokenize`` output."""
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
    release = tf_serving_version or tf_serving_releases()[0]
    return sorted(bert_pack_inputs_ops(preprocessor) - tf_serving_ops(release))


class TokenizeOnly(tf.Module):
    """A preprocessor module's tokenizers alone (``tokenize``, and ``tokenize_with_offsets`` where it has it):
    all that ragged-op packing and the QA / entity windows call, and all a signature saves."""

    def __init__(self, preprocessor_module):
        super().__init__(name="preprocessor_tokenize")
        self.tokenize = preprocessor_module.tokenize
        if hasattr(preprocessor_module, "tokenize_with_offsets"):
            self.tokenize_with_offsets = preprocessor_module.tokenize_with_offsets

"""Packing tokenized segments into the encoder's inputs inside exported graphs: one packer module for every exporter.

Which packing a TF Serving signature uses over a hub preprocessor: its own, or ragged-op packing.
Model Garden's preprocessors (tf-models-official 2.13 and later, so most published today) pack
with ``TFText>RoundRobinTrim`` and ``TFText>RoundRobinGenerateMasks``, which the TF Text 2.12.1
inside TF Serving 2.12-2.19 lacks. :func:`unservable_packing_ops` finds such ops in a preprocessor's
``bert_pack_inputs``; a signature over such a preprocessor traces
``pack_inputs(..., ragged_ops=True)`` (:func:`tfhub_llm.layers.hub_layers.pack_inputs`: the same ids, from
core TF and TF Text 2.12 ops) and saves only :class:`TokenizeOnly` of it, so the export holds no
function of the preprocessor's own packing. Tokenizing stays the preprocessor's: WordPiece and
SentencePiece ops are in TF Text 2.12.1.

The on-device graph packs with dense ops (:func:`pack_segments`): TFLite runs the ragged ops
(RaggedRange, RaggedTensorToTensor, RoundRobinTrim) only partly or not at all, so the same
``[CLS] a [SEP] (b [SEP])`` rows, round-robin trimmed to ``seq_length`` and padded to the longest
row of the batch (as the serving export does), are built from TFLite builtins only: every output
position looks up its token in the flat word piece ids with one GATHER.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import tensorflow as tf

from tfhub_llm.bert.preprocessing import round_robin_lengths
from tfhub_llm.op_lists.tf_serving_releases import tf_serving_ops, tf_serving_releases

if TYPE_CHECKING:
    from tfhub_llm.layers.hub_layers import HubPreprocessor


def bert_pack_inputs_ops(preprocessor: HubPreprocessor) -> set[str]:
    """Op types of a :class:`~tfhub_llm.layers.hub_layers.HubPreprocessor`'s own ``bert_pack_inputs`` on its ``tokenize`` output."""
    tokens = preprocessor.tokenize(tf.constant(["probe"]))
    segment_spec = tf.RaggedTensorSpec([None, *tokens.shape[1:]], tokens.dtype, tokens.ragged_rank,
                                       tokens.row_splits.dtype)
    pack = tf.function(lambda segment: preprocessor.module.bert_pack_inputs(
        [segment], seq_length=preprocessor.max_seq_length))
    graph = pack.get_concrete_function(segment_spec).graph.as_graph_def()
    functions = {function.signature.name for function in graph.library.function}
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    return {node.op for node in nodes} - functions


def unservable_packing_ops(preprocessor: HubPreprocessor, tf_serving_version: str | None = None) -> list[str]:
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


def pack_segments(segments: list[tuple[tf.Tensor, tf.Tensor]], seq_length: int, cls_id: int, sep_id: int,
                  pad_id: int) -> dict[str, tf.Tensor]:
    """The encoder's input dict for 1 or 2 tokenized segments.

    Args:
        segments: ``[(values, row_splits)]``: each segment's flat int32 word piece ids and its int32
            ``[batch + 1]`` row splits (see :meth:`OnDeviceTokenizer.tokenize`).
        seq_length: the longest packed row; longer inputs are trimmed round-robin, as the preprocessor does.
        cls_id, sep_id, pad_id: the special token ids.

    Returns:
        ``input_word_ids``, ``input_mask`` and ``input_type_ids``, int32 ``[batch, longest packed row]``.
    """
    lengths = [splits[1:] - splits[:-1] for _, splits in segments]
    kept = round_robin_lengths(lengths, seq_length - len(segments) - 1)
    total = tf.add_n(kept) + len(segments) + 1
    positions = tf.range(tf.reduce_max(total))[tf.newaxis, :]
    word_ids = tf.where(positions == 0, cls_id, pad_id)
    type_ids = tf.zeros_like(word_ids)
    offset = tf.ones_like(total)  # where the current segment starts in each row
    for type_id, ((values, splits), count) in enumerate(zip(segments, kept)):
        start, end = offset[:, tf.newaxis], (offset + count)[:, tf.newaxis]
        inside = (positions >= start) & (positions < end)
        padded_values = tf.concat([values, [pad_id]], axis=0)  # a valid index even when every text is empty
        index = tf.where(inside, splits[:-1, tf.newaxis] + positions - start, tf.shape(values)[0])
        word_ids = tf.where(inside, tf.gather(padded_values, index), word_ids)
        word_ids = tf.where(positions == end, sep_id, word_ids)
        type_ids = tf.where((positions >= start) & (positions <= end), type_id, type_ids)
        offset = offset + count + 1
    input_mask = tf.cast(positions < total[:, tf.newaxis], tf.int32)
    return {"input_word_ids": word_ids, "input_mask": input_mask, "input_type_ids": type_ids}

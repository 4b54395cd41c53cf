"""Packing for the on-device graph: tokenized segments → the encoder's three int32 inputs, with dense ops.

The preprocessors' ``bert_pack_inputs`` works on ragged tensors (RaggedRange, RaggedTensorToTensor,
TF Text's RoundRobinTrim), which TFLite runs only partly or not at all. This builds the same
``[CLS] a [SEP] (b [SEP])`` rows, round-robin trimmed to ``seq_length`` and padded to the longest
row of the batch (as the serving export does), from TFLite builtins only: every output position
looks up its token in the flat word piece ids with one GATHER.
"""

import tensorflow as tf

from tfhub_llm.bert.preprocessing import round_robin_lengths


def pack_segments(segments, seq_length, cls_id, sep_id, pad_id):
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

"""Saves a :class:`BertEncoder` and a :class:`BertPreprocessor` as TF-Hub Reusable SavedModels.

The interface is the one TF Model Garden's exporter writes (``__call__(inputs, training=False)``
traced for both values of ``training``, ``variables``, ``trainable_variables``,
``regularization_losses``, a ``vocab_file`` asset, a ``do_lower_case`` variable, a
``serving_default`` signature, an ``mlm`` sub-object when there is an MLM head), so the result
loads with ``hub.load``, ``hub.KerasLayer`` and this package's Hub layers. Every directory is
written through :func:`tfhub_llm.atomic.atomic_directory`, so readers never see half of one.
"""

import pathlib

import tensorflow as tf

from tfhub_llm.atomic import atomic_directory
from tfhub_llm.hub.assets import asset_file
from tfhub_llm.hub_contract import SERVING_SIGNATURE, encoder_input_specs, encoder_serving_function


def _input_specs(with_positions=False):
    specs = encoder_input_specs()
    if with_positions:
        specs["masked_lm_positions"] = tf.TensorSpec([None, None], tf.int32, name="masked_lm_positions")
    return specs


def _traced_for_both_modes(method, specs):
    function = tf.function(lambda inputs, training=False: method(inputs, training=training))
    for training in (False, True):
        function.get_concrete_function(specs, training=training)
    return function


def save_encoder(encoder, export_dir, vocab_file, do_lower_case, overwrite=False):
    """Writes ``encoder`` (a :class:`BertEncoder`) to ``export_dir`` as a TF-Hub Reusable SavedModel."""
    root = tf.__internal__.tracking.AutoTrackable()  # the container keras.export uses, too
    root.vocab_file = tf.saved_model.Asset(str(vocab_file))
    root.do_lower_case = tf.Variable(bool(do_lower_case), trainable=False, name="do_lower_case")
    root.variables = [v.value for v in encoder.variables] + [root.do_lower_case]
    root.trainable_variables = [v.value for v in encoder.trainable_variables]
    root.regularization_losses = []
    root.__call__ = _traced_for_both_modes(encoder, _input_specs())
    root.serving_default = encoder_serving_function(encoder)
    if encoder.mlm_head is not None:
        root.mlm = tf.__internal__.tracking.AutoTrackable()
        root.mlm.__call__ = _traced_for_both_modes(encoder.masked_lm, _input_specs(with_positions=True))
    with atomic_directory(export_dir, overwrite=overwrite) as staging:
        tf.saved_model.save(root, str(staging), signatures={SERVING_SIGNATURE: root.serving_default})


def _ragged_segments_spec(rank):
    return tf.RaggedTensorSpec([None] * rank, tf.int32, ragged_rank=rank - 1, row_splits_dtype=tf.int64)


def save_preprocessor(preprocessor, export_dir, overwrite=False):
    """Writes ``preprocessor`` (a :class:`BertPreprocessor`) to ``export_dir`` as a TF-Hub SavedModel.

    ``bert_pack_inputs`` is traced for 1 and 2 segments of rank 2 or 3 with a scalar int32 ``seq_length``.
    """
    seq_length = tf.TensorSpec([], tf.int32, name="seq_length")
    for rank in (2, 3):
        for count in (1, 2):
            preprocessor.bert_pack_inputs.get_concrete_function(
                [_ragged_segments_spec(rank)] * count, seq_length=seq_length)
    signature = preprocessor.__call__.get_concrete_function()
    with atomic_directory(export_dir, overwrite=overwrite) as staging:
        tf.saved_model.save(preprocessor, str(staging), signatures={SERVING_SIGNATURE: signature})


def save_bert_pair(encoder, preprocessor, out_dir, overwrite=False):
    """Writes ``out_dir/encoder`` and ``out_dir/preprocessor`` together, atomically."""
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        vocab_file = asset_file([preprocessor], "vocab_file")
        do_lower_case = preprocessor.do_lower_case
        save_encoder(encoder, staging / "encoder", vocab_file, do_lower_case)
        save_preprocessor(preprocessor, staging / "preprocessor")
    return pathlib.Path(out_dir)

"""Saves a :class:`BertEncoder` and a :class:`BertPreprocessor` as TF-Hub Reusable SavedModels.

The interface is the one TF Model Garden's exporter writes (``__call__(inputs, training=False)``
traced for both values of ``training``, ``variables``, ``trainable_variables``,
``regularization_losses``, a ``vocab_file`` asset, a ``do_lower_case`` variable, a
``serving_default`` signature, an ``mlm`` sub-object when there is an MLM head), so the result
loads with ``hub.load``, ``hub.KerasLayer`` and this package's Hub layers. Every directory is
written under a temporary sibling and renamed into place, so readers never see half of one.
"""

import contextlib
import os
import pathlib
import shutil
import tempfile

import tensorflow as tf

from tfhub_llm.hub import ENCODER_INPUT_KEYS


def refuse_existing(path, overwrite):
    """Raises FileExistsError when ``path`` holds something and ``overwrite`` is off (an empty folder is free)."""
    path = pathlib.Path(path)
    if path.exists() and not overwrite and not (path.is_dir() and not any(path.iterdir())):
        raise FileExistsError(
            f"{path} already exists and is not empty; pass overwrite=True (tfhub-llm convert --overwrite) "
            "to replace it")


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temporary sibling of ``path`` to fill; renames it to ``path`` when the block succeeds.

    An existing empty folder is replaced as if absent; anything else only with ``overwrite``.
    """
    path = pathlib.Path(path)
    refuse_existing(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    staging.chmod(0o755)
    try:
        yield staging
        if path.exists():
            retired = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rename(path, retired / path.name)
            os.rename(staging, path)
            shutil.rmtree(retired)
        else:
            os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _input_specs(with_positions=False):
    specs = {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ENCODER_INPUT_KEYS}
    if with_positions:
        specs["masked_lm_positions"] = tf.TensorSpec([None, None], tf.int32, name="masked_lm_positions")
    return specs


def _traced_for_both_modes(method, specs):
    function = tf.function(lambda inputs, training=False: method(inputs, training=training))
    for training in (False, True):
        function.get_concrete_function(specs, training=training)
    return function


def _serving_outputs(outputs):
    flat = {key: outputs[key] for key in ("default", "pooled_output", "sequence_output")}
    flat.update({f"encoder_outputs_{i}": layer for i, layer in enumerate(outputs["encoder_outputs"])})
    if "mlm_logits" in outputs:
        flat["mlm_logits"] = outputs["mlm_logits"]
    return flat


def encoder_saveable(encoder, vocab_file, do_lower_case):
    """The trackable object that :func:`save_encoder` writes (exposed for tests and custom exports)."""
    root = tf.__internal__.tracking.AutoTrackable()  # the container keras.export uses, too
    root.vocab_file = tf.saved_model.Asset(str(vocab_file))
    root.do_lower_case = tf.Variable(bool(do_lower_case), trainable=False, name="do_lower_case")
    root.variables = [v.value for v in encoder.variables] + [root.do_lower_case]
    root.trainable_variables = [v.value for v in encoder.trainable_variables]
    root.regularization_losses = []
    root.__call__ = _traced_for_both_modes(encoder, _input_specs())

    @tf.function(input_signature=list(_input_specs().values()))
    def serve(input_word_ids, input_mask, input_type_ids):
        inputs = {"input_word_ids": input_word_ids, "input_mask": input_mask, "input_type_ids": input_type_ids}
        return _serving_outputs(encoder(inputs, training=False))

    root.serving_default = serve
    if encoder.mlm_head is not None:
        root.mlm = tf.__internal__.tracking.AutoTrackable()
        root.mlm.__call__ = _traced_for_both_modes(encoder.masked_lm, _input_specs(with_positions=True))
    return root


def save_encoder(encoder, export_dir, vocab_file, do_lower_case, overwrite=False):
    """Writes ``encoder`` (a :class:`BertEncoder`) to ``export_dir`` as a TF-Hub Reusable SavedModel."""
    root = encoder_saveable(encoder, vocab_file, do_lower_case)
    with atomic_directory(export_dir, overwrite=overwrite) as staging:
        tf.saved_model.save(root, str(staging), signatures={"serving_default": root.serving_default})


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
        tf.saved_model.save(preprocessor, str(staging), signatures={"serving_default": signature})


def save_bert_pair(encoder, preprocessor, out_dir, overwrite=False):
    """Writes ``out_dir/encoder`` and ``out_dir/preprocessor`` together, atomically."""
    with atomic_directory(out_dir, overwrite=overwrite) as staging:
        vocab_file = preprocessor.vocab_file.asset_path.numpy().decode()
        do_lower_case = preprocessor.do_lower_case
        save_encoder(encoder, staging / "encoder", vocab_file, do_lower_case)
        save_preprocessor(preprocessor, staging / "preprocessor")
    return pathlib.Path(out_dir)

"""``export_to_hub``: a (fine-tuned) model's encoder, and its preprocessor, as TF-Hub Reusable SavedModels.

The encoder is re-saved from the restored module: it keeps its functions (``__call__`` for both
values of ``training``, ``mlm``), assets and signatures, and its variables are the ones the Keras
layer trains, so the files hold the fine-tuned weights. The preprocessor has nothing to train and
is copied as it was loaded (a re-save would wrap its vocabulary table initializer, which the op
scan of :mod:`tfhub_llm.hub.security` then no longer recognizes as reading the model's own asset),
regular files and folders only (:func:`tfhub_llm.hub.archive.copy_saved_model`: no links out of it).
"""

from __future__ import annotations

import os
import pathlib

import keras
import tensorflow as tf

from tfhub_llm.atomic import atomic_directory
from tfhub_llm.errors import InvalidArgumentError, InvalidArgumentTypeError, TargetExistsError
from tfhub_llm.hub import archive
from tfhub_llm.hub_contract import SERVING_SIGNATURE, encoder_serving_function
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor


def export_to_hub(model_or_encoder: keras.Model | HubEncoder, out_dir: str | os.PathLike, *,
                  preprocessor: bool | HubPreprocessor = True) -> pathlib.Path:
    """Writes ``out_dir/encoder`` (and ``out_dir/preprocessor``) as TF-Hub Reusable SavedModels.

    Args:
        model_or_encoder: a task model with ``.encoder`` (``TextClassifier``,
            ``SpanQuestionAnswerer``) or a :class:`HubEncoder`; its current (fine-tuned) weights are written.
        out_dir: a new or empty folder; it appears complete or not at all.
        preprocessor: ``True`` for the model's own preprocessor, ``False`` for none, or a
            :class:`HubPreprocessor` to write next to the encoder.

    Returns the ``out_dir`` path.
    """
    encoder = model_or_encoder if isinstance(model_or_encoder, HubEncoder) else getattr(model_or_encoder, "encoder", None)
    if not isinstance(encoder, HubEncoder):
        raise InvalidArgumentTypeError(
            f"export_to_hub takes a task model with a HubEncoder or a HubEncoder, got {type(model_or_encoder).__name__}")
    preprocessor_layer = _preprocessor_to_export(model_or_encoder, preprocessor)
    out_dir = pathlib.Path(out_dir)
    with atomic_directory(out_dir, exists_error=_not_empty) as staging:
        tf.saved_model.save(encoder.module, str(staging / "encoder"), signatures=_encoder_signatures(encoder.module))
        if preprocessor_layer is not None:
            archive.copy_saved_model(preprocessor_layer.resolved_handle.path, staging / "preprocessor")
    return out_dir


def _not_empty(out_dir):
    return TargetExistsError(f"{out_dir} already exists and is not an empty folder; export to a new folder")


def _preprocessor_to_export(model_or_encoder, preprocessor):
    if isinstance(preprocessor, HubPreprocessor):
        return preprocessor
    if preprocessor is False:
        return None
    if preprocessor is True:
        layer = getattr(model_or_encoder, "preprocessor", None)
        if not isinstance(layer, HubPreprocessor):
            raise InvalidArgumentError("A bare HubEncoder has no preprocessor: pass preprocessor=False or a HubPreprocessor")
        return layer
    raise InvalidArgumentTypeError(f"preprocessor must be True, False or a HubPreprocessor, got {preprocessor!r}")


def _encoder_signatures(module):
    """The encoder's signatures, with a ``serving_default`` made from ``__call__`` when it has none."""
    signatures = dict(module.signatures)
    if SERVING_SIGNATURE not in signatures:
        signatures[SERVING_SIGNATURE] = encoder_serving_function(module)
    return signatures

"""``export_text_embedding``: a ``TextEmbedder`` as a TF-Hub text-embedding SavedModel, strings in, one vector per string out.

The SavedModel has TF Hub's common text-embedding API, so ``hub.load``, ``hub.KerasLayer(handle,
input_shape=[], dtype=tf.string)`` (tf-keras), :class:`tfhub_llm.HubTextEmbedding` (Keras 3) and
``tfhub-llm publish`` take it:

* ``__call__(texts, training=False)``: 1-D string tensor → float32 ``[batch, dim]``, traced for both
  values of ``training`` (dropout), tokenization included;
* ``variables``, ``trainable_variables`` (the embedder's current, e.g. fine-tuned, weights) and
  ``regularization_losses`` (none);
* a ``serving_default`` signature ``text`` → ``embedding``.

The graph calls the encoder on whole batches (no micro-batches by length), so it holds only the ops
of the BERT encoder and preprocessor and passes the op scan of :mod:`tfhub_llm.hub.security` as they do.
"""

from __future__ import annotations

import os
import pathlib

import tensorflow as tf

from tfhub_llm.atomic import atomic_directory
from tfhub_llm.errors import InvalidArgumentTypeError
from tfhub_llm.hub_contract import EMBEDDING_INPUT, EMBEDDING_OUTPUT, SERVING_SIGNATURE, string_input_specs
from tfhub_llm.layers.hub_layers import whole_batches
from tfhub_llm.tasks.embedding import TextEmbedder


def _text_embedding_saveable(embedder):
    """The trackable object that :func:`export_text_embedding` writes for a ``TextEmbedder`` (traced as it is)."""
    root = tf.__internal__.tracking.AutoTrackable()
    root.encoder = embedder.encoder.module  # the restored TF-Hub modules: their assets (vocabulary) and tables
    root.preprocessor = embedder.preprocessor.module
    root.variables = [weight.value for weight in embedder.weights]
    root.trainable_variables = [weight.value for weight in embedder.trainable_weights]
    root.regularization_losses = []
    texts, = string_input_specs([EMBEDDING_INPUT])
    call = tf.function(lambda texts, training=False: embedder(texts, training=training))

    @tf.function(input_signature=[texts])
    def serving_default(text):
        return {EMBEDDING_OUTPUT: embedder(text, training=False)}

    for training in (False, True):
        call.get_concrete_function(texts, training=training)
    root.__call__ = call
    root.serving_default = serving_default
    return root


def export_text_embedding(embedder: TextEmbedder, out_dir: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
    """Writes ``embedder`` (a :class:`TextEmbedder`) to ``out_dir`` as a TF-Hub text-embedding SavedModel.

    The folder appears complete or not at all; an existing one is refused unless ``overwrite``.
    Returns the ``out_dir`` path.
    """
    if not isinstance(embedder, TextEmbedder):
        raise InvalidArgumentTypeError(
            f"export_text_embedding takes a TextEmbedder (e.g. the model.keras of `tfhub-llm finetune embed`), "
            f"got {type(embedder).__name__}.")
    with whole_batches(embedder.encoder), atomic_directory(out_dir, overwrite=overwrite) as staging:
        root = _text_embedding_saveable(embedder)
        tf.saved_model.save(root, str(staging), signatures={SERVING_SIGNATURE: root.serving_default})
    return pathlib.Path(out_dir)

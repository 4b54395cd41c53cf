"""Handles → loaded TF-Hub SavedModels: resolution through tensorflow_hub, checks of the BERT interface.

A handle is a local directory, a ``file://`` URL, an ``http(s)://`` URL serving TF Hub's compressed
format, or a tfhub.dev / Kaggle Models URL. :func:`resolve` turns it, once, into a
:class:`~tfhub_llm.hub.resolved_handle.ResolvedHandle` that the loaders pass on to trust and the scan.
Resolution and caching (``TFHUB_CACHE_DIR``) are tensorflow_hub's own (with
:mod:`tfhub_llm.hub.resolver` verifying archives, installed on the first remote handle); this module adds a scan of the graph (:mod:`tfhub_llm.hub.security`), errors that
name the handle and say what to do, and checks that what was loaded has the encoder, preprocessor or
text-embedding interface (:mod:`tfhub_llm.hub_contract`) before anyone calls it.
"""

from __future__ import annotations

import os
import urllib.error

import tensorflow as tf
import tensorflow_hub
import tensorflow_text  # noqa: F401  (registers the TF Text ops that preprocessors use)

from tfhub_llm.errors import TfhubLlmError
from tfhub_llm.hub import resolver, security
from tfhub_llm.hub.resolved_handle import ResolvedHandle, local_path
from tfhub_llm.hub_contract import (
    ENCODER_INPUT_KEYS,
    ENCODER_OUTPUT_KEYS,
    missing_encoder_parts,
    missing_preprocessor_parts,
    missing_text_embedding_parts,
)


TF1_HUB_MODULE_FILE = "tfhub_module.pb"  # what marks a TF1 Hub-format module (hub.Module)


class HandleError(TfhubLlmError, ValueError):
    """A handle that cannot be resolved or loaded; the message names it and says what to do."""


Handle = str | os.PathLike | ResolvedHandle  # what the loaders take: a handle, or one resolved already


def resolve(handle: Handle) -> ResolvedHandle:
    """``handle`` and its local SavedModel directory, downloaded and cached when remote (a resolved handle as it is)."""
    if isinstance(handle, ResolvedHandle):
        return handle
    handle = os.fspath(handle)
    path = local_path(handle)
    if path is not None:
        return ResolvedHandle(handle, _local_saved_model_dir(handle, path))
    resolver.install_resolver()
    try:
        path = tensorflow_hub.resolve(handle)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise HandleError(
            f"Cannot download {handle!r}: {_reason(error)}. This machine may be offline: pass a local "
            "SavedModel directory instead, or set TFHUB_CACHE_DIR to a cache that already holds this handle."
        ) from error
    if not tf.io.gfile.exists(os.path.join(path, tf.saved_model.SAVED_MODEL_FILENAME_PB)):
        raise HandleError(
            f"The cache directory {path!r} for handle {handle!r} is empty or corrupt (no saved_model.pb): "
            "delete that directory and load again."
        )
    return ResolvedHandle(handle, path, remote=True)


def _local_saved_model_dir(handle, path):
    if not os.path.exists(path):
        raise HandleError(f"Handle {handle!r}: the path {path!r} does not exist.")
    if not os.path.isfile(os.path.join(path, tf.saved_model.SAVED_MODEL_FILENAME_PB)):
        raise HandleError(
            f"Handle {handle!r}: {path!r} is not a SavedModel directory (no saved_model.pb in it)."
        )
    return path


def _reason(error):
    return str(getattr(error, "reason", None) or error)


def load(handle: Handle, *, trust: bool = False, allow_ops=(), tags=None, options=None):
    """Resolves ``handle``, scans it unless trusted, and loads what was scanned with ``tensorflow_hub.load``.

    ``tags`` (the MetaGraph to load) and ``options`` (a ``tf.saved_model.LoadOptions``) are
    ``tensorflow_hub.load``'s own.
    A TF1 Hub-format module (``hub.Module``) is refused: TensorFlow 2 loads it only as graphs without its
    training behaviour, variables' trainability or regularization losses, and cannot fine-tune it.
    """
    resolved = resolve(handle)
    if tf.io.gfile.exists(os.path.join(resolved.path, TF1_HUB_MODULE_FILE)):
        raise HandleError(
            f"Handle {resolved.handle!r} is a TF1 Hub-format module (hub.Module: {resolved.path} holds "
            f"{TF1_HUB_MODULE_FILE}). "
            "tfhub_llm loads TF2 SavedModels only: TensorFlow 2 runs a TF1 module only through its graph signatures, "
            "and cannot fine-tune it. Use the model's TF2 SavedModel version instead (on Kaggle Models / tfhub.dev the "
            "'TF2' variation, often a later version number of the same model).")
    scanned = security.scanned_copy(resolved, trust=trust, allow_ops=allow_ops)
    return tensorflow_hub.load(scanned, tags=tags, options=options)


def load_encoder(handle: Handle, **load_options):
    """Loads a TF-Hub BERT encoder, refusing a SavedModel without the encoder interface."""
    return _load_with_interface(
        handle, "a TF-Hub BERT encoder", missing_encoder_parts,
        f"An encoder takes a dict of int32 {', '.join(ENCODER_INPUT_KEYS)} and returns a dict with "
        f"{', '.join(ENCODER_OUTPUT_KEYS)}.", load_options)


def load_text_embedding(handle: Handle, **load_options):
    """Loads a TF-Hub text embedding, refusing a SavedModel without that interface."""
    return _load_with_interface(
        handle, "a TF-Hub text embedding", missing_text_embedding_parts,
        "A text embedding is called on a 1-D string tensor and returns one float vector per string, [batch, dim].",
        load_options)


def _load_with_interface(handle, kind, missing_parts, contract, load_options):
    """Loads ``handle``; a HandleError names what ``missing_parts`` finds missing and ``contract``."""
    resolved = resolve(handle)
    module = load(resolved, **load_options)
    missing = missing_parts(module)
    if missing:
        raise HandleError(f"Handle {resolved.handle!r} is not {kind}: {missing}. {contract}")
    return module


def load_preprocessor(handle: Handle, **load_options):
    """Loads a TF-Hub BERT preprocessor, refusing a SavedModel without the preprocessor interface."""
    def missing_parts(module):
        missing = missing_preprocessor_parts(module)
        return f"missing sub-objects {missing}" if missing else ""

    return _load_with_interface(
        handle, "a TF-Hub BERT preprocessor", missing_parts,
        "A preprocessor is called on a batch of strings and has tokenize (with get_special_tokens_dict) and "
        "bert_pack_inputs.", load_options)


def module_variables(module) -> list[tf.Variable]:
    """The SavedModel's variables: its ``variables`` attribute, or every variable it tracks."""
    if hasattr(module, "variables"):
        return list(module.variables)
    descendants = tf.train.TrackableView(module).descendants()
    return [item for item in descendants if isinstance(item, tf.Variable)]


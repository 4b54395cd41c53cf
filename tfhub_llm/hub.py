"""Handles → loaded TF-Hub SavedModels: resolution through tensorflow_hub, checks of the BERT interface.

A handle is a local directory, a ``file://`` URL, an ``http(s)://`` URL serving TF Hub's compressed
format, or a tfhub.dev / Kaggle Models URL. Resolution and caching (``TFHUB_CACHE_DIR``) are
tensorflow_hub's own (with :mod:`tfhub_llm.hub_resolver` verifying archives); this module adds
a scan of the graph (:mod:`tfhub_llm.security`), errors that name the handle and say what to do, and checks
that what was loaded has the encoder, preprocessor or text-embedding interface before anyone calls it.
"""

import os
import urllib.error
import urllib.parse

import tensorflow as tf
import tensorflow_hub as hub
import tensorflow_text  # noqa: F401  (registers the TF Text ops that preprocessors use)

from tfhub_llm import hub_resolver, security

hub_resolver.install_resolver()

ENCODER_INPUT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
ENCODER_OUTPUT_KEYS = ("pooled_output", "sequence_output")
PREPROCESSOR_ATTRIBUTES = ("tokenize", "bert_pack_inputs")
TEXT_EMBEDDING = "text embedding"


class HandleError(ValueError):
    """A handle that cannot be resolved or loaded; the message names it and says what to do."""


def resolve(handle):
    """Returns the local SavedModel directory of ``handle``, downloading and caching when remote."""
    handle = os.fspath(handle)
    parsed = urllib.parse.urlparse(handle)
    if parsed.scheme in ("", "file"):
        return _local_saved_model_dir(handle, urllib.parse.unquote(parsed.path) if parsed.scheme else handle)
    try:
        path = hub.resolve(handle)
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
    return path


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


def load(handle, *, trust=False, allow_ops=()):
    """Resolves ``handle``, scans its graph unless trusted, and loads it with ``hub.load``."""
    path = resolve(handle)
    security.check_saved_model(path, trust=trust, allow_ops=allow_ops, handle=os.fspath(handle))
    return hub.load(path)


def load_encoder(handle, **load_options):
    """Loads a TF-Hub BERT encoder, refusing a SavedModel without the encoder interface."""
    module = load(handle, **load_options)
    missing = missing_encoder_parts(module)
    if missing:
        raise HandleError(
            f"Handle {handle!r} is not a TF-Hub BERT encoder: {missing}. An encoder takes a dict of int32 "
            f"{', '.join(ENCODER_INPUT_KEYS)} and returns a dict with {', '.join(ENCODER_OUTPUT_KEYS)}."
        )
    return module


def load_preprocessor(handle, **load_options):
    """Loads a TF-Hub BERT preprocessor, refusing a SavedModel without the preprocessor interface."""
    module = load(handle, **load_options)
    missing = [name for name in PREPROCESSOR_ATTRIBUTES if not hasattr(module, name)]
    if not callable(module):
        missing.insert(0, "__call__")
    if hasattr(module, "tokenize") and not hasattr(module.tokenize, "get_special_tokens_dict"):
        missing.append("tokenize.get_special_tokens_dict")
    if missing:
        raise HandleError(
            f"Handle {handle!r} is not a TF-Hub BERT preprocessor: missing sub-objects {missing}."
        )
    return module


def module_variables(module):
    """The SavedModel's variables: its ``variables`` attribute, or every variable it tracks."""
    if hasattr(module, "variables"):
        return list(module.variables)
    descendants = tf.train.TrackableView(module).descendants()
    return [item for item in descendants if isinstance(item, tf.Variable)]


def load_text_embedding(handle, **load_options):
    """Loads a TF-Hub text embedding, refusing a SavedModel without that interface."""
    module = load(handle, **load_options)
    missing = missing_text_embedding_parts(module)
    if missing:
        raise HandleError(
            f"Handle {handle!r} is not a TF-Hub text embedding: {missing}. A text embedding is called on a "
            "1-D string tensor and returns one float vector per string, [batch, dim]."
        )
    return module


def interface_kind(module):
    """Which TF-Hub interface a loaded SavedModel has: "preprocessor", "encoder", "text embedding", or None."""
    if all(hasattr(module, name) for name in PREPROCESSOR_ATTRIBUTES):
        return "preprocessor"
    if not missing_encoder_parts(module):
        return "encoder"
    if not missing_text_embedding_parts(module):
        return TEXT_EMBEDDING
    return None


def missing_text_embedding_parts(module):
    """Describes what keeps ``module`` from being a text embedding, or returns '' when nothing does."""
    functions = getattr(getattr(module, "__call__", None), "concrete_functions", None)
    if not functions:
        return "it has no restored __call__ function"
    inputs = functions[0].structured_input_signature[0]
    first = inputs[0] if inputs else None
    if not (isinstance(first, tf.TensorSpec) and first.dtype == tf.string and first.shape.rank == 1):
        return f"its __call__ does not take a 1-D string tensor (it takes {inputs})"
    outputs = functions[0].structured_outputs
    if not (isinstance(outputs, (tf.Tensor, tf.TensorSpec)) and outputs.dtype.is_floating and outputs.shape.rank == 2):
        return f"its __call__ does not return one float tensor [batch, dim] (it returns {outputs})"
    return ""


def missing_encoder_parts(module):
    """Describes what keeps ``module`` from being a BERT encoder, or returns '' when nothing does."""
    call = getattr(module, "__call__", None)
    functions = getattr(call, "concrete_functions", None)
    if not functions:
        return "it has no restored __call__ function"
    inputs = functions[0].structured_input_signature[0][0]
    if not isinstance(inputs, dict):
        return "its __call__ does not take a dict of tensors"
    missing_inputs = [key for key in ENCODER_INPUT_KEYS if key not in inputs]
    outputs = functions[0].structured_outputs
    missing_outputs = [key for key in ENCODER_OUTPUT_KEYS if not isinstance(outputs, dict) or key not in outputs]
    problems = []
    if missing_inputs:
        problems.append(f"missing input keys {missing_inputs}")
    if missing_outputs:
        problems.append(f"missing output keys {missing_outputs}")
    return "; ".join(problems)

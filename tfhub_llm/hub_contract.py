"""The TF-Hub text encoder / preprocessor / text-embedding contract, as every part of the package relies on it.

A TF-Hub BERT *encoder* is a Reusable SavedModel whose ``__call__(inputs, training)`` takes a dict
of int32 ``[batch, seq_length]`` tensors (:data:`ENCODER_INPUT_KEYS`) and returns at least
:data:`ENCODER_OUTPUT_KEYS` (plus ``encoder_outputs``, one tensor per layer, and ``default``). A
*preprocessor* is callable on a batch of strings and has ``tokenize`` (with
``get_special_tokens_dict``) and ``bert_pack_inputs(segments, seq_length)``. Both export a
:data:`SERVING_SIGNATURE`. A *text embedding* (TF Hub's common API for USE, NNLM, ...) has a
``__call__(texts[, training])`` from a 1-D string tensor to one float vector per string, ``[batch,
dim]``; the package's own exports of it serve :data:`EMBEDDING_INPUT` → :data:`EMBEDDING_OUTPUT`. This module imports nothing from the package, so the loader, the layers,
the package's own BERT and the exporters can all depend on it; it imports TensorFlow only inside
the functions that build or check specs and signatures, so the stdlib-only REST client can use it too.
"""

ENCODER_INPUT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
ENCODER_OUTPUT_KEYS = ("pooled_output", "sequence_output")
PREPROCESSOR_ATTRIBUTES = ("tokenize", "bert_pack_inputs")
SERVING_SIGNATURE = "serving_default"
# The default call's packed length of the package's own preprocessors (tfhub_llm.bert), as most TF Hub
# ones use; HubPreprocessor reads a hub preprocessor's own default from the SavedModel instead.
DEFAULT_SEQ_LENGTH = 128
ENCODER, PREPROCESSOR, TEXT_EMBEDDING = "encoder", "preprocessor", "text embedding"
EMBEDDING_INPUT, EMBEDDING_OUTPUT = "text", "embedding"  # serving_default of a text embedding export


def interface_kind(module):
    """Which interface a loaded SavedModel has: :data:`PREPROCESSOR`, :data:`ENCODER`, :data:`TEXT_EMBEDDING`, or None."""
    if all(hasattr(module, name) for name in PREPROCESSOR_ATTRIBUTES):
        return PREPROCESSOR
    if not missing_encoder_parts(module):
        return ENCODER
    if not missing_text_embedding_parts(module):
        return TEXT_EMBEDDING
    return None


def missing_encoder_parts(module):
    """Describes what keeps ``module`` from being an encoder, or returns '' when nothing does."""
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


def missing_text_embedding_parts(module):
    """Describes what keeps ``module`` from being a text embedding, or returns '' when nothing does."""
    import tensorflow as tf

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


def missing_preprocessor_parts(module):
    """The names of the preprocessor parts ``module`` lacks ([] when it has them all)."""
    missing = [name for name in PREPROCESSOR_ATTRIBUTES if not hasattr(module, name)]
    if not callable(module):
        missing.insert(0, "__call__")
    if hasattr(module, "tokenize") and not hasattr(module.tokenize, "get_special_tokens_dict"):
        missing.append("tokenize.get_special_tokens_dict")
    return missing


def encoder_inputs(tensors):
    """The encoder's input dict from a mapping holding (at least) :data:`ENCODER_INPUT_KEYS`."""
    return {key: tensors[key] for key in ENCODER_INPUT_KEYS}


def _flat_serving_outputs(outputs):
    """Encoder outputs as a signature returns them: ``encoder_outputs`` as ``encoder_outputs_0``, ``_1``, ..."""
    flat = dict(outputs)
    flat.update({f"encoder_outputs_{i}": layer for i, layer in enumerate(flat.pop("encoder_outputs", []))})
    return flat


def string_input_specs(names):
    """One string ``[batch]`` TensorSpec for each raw-text input in ``names``, in order."""
    import tensorflow as tf

    return [tf.TensorSpec([None], tf.string, name=name) for name in names]


def encoder_input_specs():
    """``{key: int32 [batch, seq_length] TensorSpec}`` for each of :data:`ENCODER_INPUT_KEYS`."""
    import tensorflow as tf

    return {key: tf.TensorSpec([None, None], tf.int32, name=key) for key in ENCODER_INPUT_KEYS}


def encoder_serving_function(call):
    """The :data:`SERVING_SIGNATURE` of an encoder whose ``call(inputs, training=False)`` is given."""
    import tensorflow as tf


    @tf.function(input_signature=list(encoder_input_specs().values()))
    def serving_default(input_word_ids, input_mask, input_type_ids):
        inputs = dict(zip(ENCODER_INPUT_KEYS, (input_word_ids, input_mask, input_type_ids)))
        return _flat_serving_outputs(call(inputs, training=False))

    return serving_default

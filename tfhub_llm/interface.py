"""The TF-Hub text encoder / preprocessor contract, as every part of the package relies on it.

A TF-Hub BERT *encoder* is a Reusable SavedModel whose ``__call__(inputs, training)`` takes a dict
of int32 ``[batch, seq_length]`` tensors (:data:`ENCODER_INPUT_KEYS`) and returns at least
:data:`ENCODER_OUTPUT_KEYS` (plus ``encoder_outputs``, one tensor per layer, and ``default``). A
*preprocessor* is callable on a batch of strings and has ``tokenize`` (with
``get_special_tokens_dict``) and ``bert_pack_inputs(segments, seq_length)``. Both export a
:data:`SERVING_SIGNATURE`. This module imports nothing from the package, so the loader, the layers,
the package's own BERT and the exporters can all depend on it; it imports TensorFlow only inside
the two functions that build specs and signatures, so the stdlib-only REST client can use it too.
"""

ENCODER_INPUT_KEYS = ("input_word_ids", "input_mask", "input_type_ids")
ENCODER_OUTPUT_KEYS = ("pooled_output", "sequence_output")
PREPROCESSOR_ATTRIBUTES = ("tokenize", "bert_pack_inputs")
SERVING_SIGNATURE = "serving_default"
# The default call's packed length of the package's own preprocessors (tfhub_llm.bert), as most TF Hub
# ones use; HubPreprocessor reads a hub preprocessor's own default from the SavedModel instead.
DEFAULT_SEQ_LENGTH = 128
ENCODER, PREPROCESSOR = "encoder", "preprocessor"


def interface_kind(module):
    """Which interface a loaded SavedModel has: :data:`PREPROCESSOR`, :data:`ENCODER`, or None."""
    if all(hasattr(module, name) for name in PREPROCESSOR_ATTRIBUTES):
        return PREPROCESSOR
    if not missing_encoder_parts(module):
        return ENCODER
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


def flat_serving_outputs(outputs):
    """Encoder outputs as a signature returns them: ``encoder_outputs`` as ``encoder_outputs_0``, ``_1``, ..."""
    flat = dict(outputs)
    flat.update({f"encoder_outputs_{i}": layer for i, layer in enumerate(flat.pop("encoder_outputs", []))})
    return flat


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
        return flat_serving_outputs(call(inputs, training=False))

    return serving_default

"""``serving_default`` of any Keras model on raw text, e.g. one built with :class:`tfhub_llm.KerasLayer`.

A functional or Sequential model whose inputs are all 1-D string tensors is exported through Keras' own
``keras.export.ExportArchive`` (which tracks the model's variables and the restored TF-Hub objects' tables and
assets): one string input per model input, named after the model's ``Input`` layers (``keras.Input(name="text")``
gives ``text``); the outputs are the model's (a dict keeps its keys, one tensor is ``output_0``).
"""

import keras

from tfhub_llm.errors import InvalidArgumentTypeError
from tfhub_llm.hub_contract import SERVING_SIGNATURE, string_input_specs


class KerasModelServing:
    """What :func:`tfhub_llm.export_for_serving` writes for a Keras model on raw text."""

    def __init__(self, model):
        inputs = list(getattr(model, "inputs", None) or [])
        wrong = [tensor for tensor in inputs if tensor.dtype != "string" or len(tensor.shape) != 1]
        if not inputs or wrong:
            described = ", ".join(f"{tensor.name} {tensor.dtype} {tuple(tensor.shape)}" for tensor in wrong)
            raise InvalidArgumentTypeError(
                f"export_for_serving exports a Keras model whose inputs are all strings [batch] (raw text); "
                f"{type(model).__name__} {model.name!r} has "
                f"{'inputs ' + described if wrong else 'no known inputs (build it functionally or with Sequential)'}. "
                "Export it with model.export(path) instead.")
        self.input_names = tuple(tensor._keras_history.operation.name for tensor in inputs)
        self._model = model

    def _serve(self, *texts):
        return self._model(texts[0] if len(texts) == 1 else list(texts), training=False)

    def save(self, path):
        """Writes the SavedModel with its ``serving_default`` signature to ``path``."""
        archive = keras.export.ExportArchive()
        archive.track(self._model)
        archive.add_endpoint(SERVING_SIGNATURE, self._serve, input_signature=string_input_specs(self.input_names))
        archive.write_out(str(path), verbose=False)

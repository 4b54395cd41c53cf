"""The Beam ``ModelHandler`` over a TF Serving export: texts in, the export's ``serving_default`` answers out.

Beam's own ``TFModelHandlerTensor`` loads with ``tf.keras.models.load_model`` (Keras 3 under TF 2.21,
which loads no SavedModel) and calls the model on one stacked tensor; our exports' raw-string signature
takes named string inputs (``text``; ``text`` and ``text_b``; ``question`` and ``context``), so this
thin handler loads the export as TF Serving does (:class:`~tfhub_llm.tf_serving.check.ServingSession`:
scanned first, then a TF1 session over the scanned copy) and feeds each input by name. ``RunInference``
calls ``load_model`` once per worker process and shares the model between its threads (Beam's shared
handle). Each batch is cut into length-sorted parts (:func:`tfhub_llm.layers.micro_batches.sorted_parts`) so
short texts skip the padding of long ones, and the answers are put back in the batch's order.

:func:`signature_spec` reads the signature's inputs and outputs from ``saved_model.pb`` without loading
anything, for the launcher (columns, the Parquet schema) before any worker starts.
"""

import dataclasses
import math

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from tfhub_llm.errors import InvalidFileError
from tfhub_llm.hub_contract import SERVING_SIGNATURE
from tfhub_llm.layers.micro_batches import sorted_parts
from tfhub_llm.tasks.entity_serving import NO_ENTITY

DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_ROWS_PER_PART = 32
METRICS_NAMESPACE = "tfhub_llm_batch"  # RunInference's metrics and the pipeline's counters
WARMUP_TEXT = "A short warm-up text."
_ENTITY_COUNT = "num_entities"  # the entity export pads its NO_ENTITY outputs to the request's most entities


@dataclasses.dataclass(frozen=True)
class SignatureSpec:
    """``serving_default``'s input names and each output's TensorFlow dtype name and rank."""

    inputs: tuple
    outputs: dict  # {name: (dtype name, rank)}


def signature_spec(export_dir):
    """The :class:`SignatureSpec` of ``export_dir``'s ``serving_default``, read from ``saved_model.pb``."""
    import tensorflow as tf

    from tfhub_llm.hub.security import read_saved_model

    for meta_graph in read_saved_model(export_dir).meta_graphs:
        if tf.saved_model.SERVING in meta_graph.meta_info_def.tags and SERVING_SIGNATURE in meta_graph.signature_def:
            signature = meta_graph.signature_def[SERVING_SIGNATURE]
            return SignatureSpec(
                inputs=tuple(sorted(signature.inputs)),
                outputs={name: (tf.dtypes.as_dtype(info.dtype).name, len(info.tensor_shape.dim))
                         for name, info in sorted(signature.outputs.items())})
    raise InvalidFileError(f"{export_dir} has no {SERVING_SIGNATURE!r} signature under the 'serve' tag: "
                           "not a TF Serving export")


class ServingExportHandler(ModelHandler):
    """Runs ``{input name: text}`` examples through the export at ``export_dir``; each answer is ``{output: value}``.

    Args:
        export_dir: a TF Serving version folder (``BASE/N``), as ``export_for_serving`` writes it.
        trust: skip the scan (you vouch for the export).
        max_batch_size: the most rows Beam's ``BatchElements`` puts in one batch.
        rows_per_part: the rows of each length-sorted part a batch is cut into; also the fewest rows
            ``BatchElements`` puts in a batch (but the last of a bundle).
    """

    def __init__(self, export_dir, *, trust=False, max_batch_size=DEFAULT_MAX_BATCH_SIZE,
                 rows_per_part=DEFAULT_ROWS_PER_PART):
        super().__init__(min_batch_size=min(rows_per_part, max_batch_size), max_batch_size=max_batch_size)
        self._export_dir = str(export_dir)
        self._trust = trust
        self._rows_per_part = rows_per_part

    def load_model(self):
        """The export in a TF1 session, after one warm-up request.

        A session's first run sets up its executor for those feeds and fetches (seconds for a BERT);
        done here, under Beam's shared handle, it happens once per process instead of in every thread
        that calls the model first.
        """
        import numpy as np

        from tfhub_llm.tf_serving.check import ServingSession

        session = ServingSession(self._export_dir, trust=self._trust)
        inputs = session.meta_graph.signature_def[SERVING_SIGNATURE].inputs
        session.run({name: np.array([WARMUP_TEXT], dtype=object) for name in inputs})
        return session

    def run_inference(self, batch, model, inference_args=None):
        import numpy as np

        lengths = [sum(len(text) for text in example.values()) for example in batch]
        answers = [None] * len(batch)
        for part in sorted_parts(lengths, math.ceil(len(batch) / self._rows_per_part)):
            inputs = {name: np.array([batch[i][name] for i in part], dtype=object) for name in batch[part[0]]}
            outputs = model.run(inputs)
            for position, index in enumerate(part):
                answers[index] = PredictionResult(batch[index], row_outputs(outputs, position))
        return answers

    def get_num_bytes(self, batch):
        return sum(len(text.encode("utf-8")) for example in batch for text in example.values())

    def get_metrics_namespace(self):
        return METRICS_NAMESPACE


def row_outputs(outputs, position):
    """Row ``position`` of a request's outputs, the entity outputs cut to the row's own entities."""
    row = {name: value[position] for name, value in outputs.items()}
    if _ENTITY_COUNT in row:
        count = int(row[_ENTITY_COUNT])
        row = {name: value[:count] if name in NO_ENTITY else value for name, value in row.items()}
    return row

"""tfhub-llm: Keras 3 layers, task heads and exporters for TF-Hub BERT SavedModels.

The public API. ``import tfhub_llm`` is quick: it silences TensorFlow's start-up noise before
TensorFlow loads (:mod:`tfhub_llm.quiet`) and loads each public name on first use
(:mod:`tfhub_llm.lazy_exports`), so ``tfhub-llm --help`` needs no TensorFlow. The modules that
register Keras classes are imported as soon as ``keras`` is, so ``keras.models.load_model`` finds the
package's classes in a ``.keras`` file after a bare ``import tfhub_llm``.
"""

from importlib import metadata as _metadata

from tfhub_llm import quiet as _quiet
from tfhub_llm.lazy_exports import import_with_keras as _import_with_keras
from tfhub_llm.lazy_exports import lazy_exports as _lazy_exports

_quiet.before_tensorflow()

try:
    __version__: str = _metadata.version("tfhub-llm")
except _metadata.PackageNotFoundError:  # imported from a source tree that pip did not install
    __version__ = "0+unknown"

_MODULES = {
    "tfhub_llm.bert": ("BertConfig", "convert_hf_bert"),
    "tfhub_llm.cpu_threads": ("model_server_flags", "use_inference_threads"),
    "tfhub_llm.errors": ("DataError", "TfhubLlmError"),
    "tfhub_llm.hub.archive": ("safe_extract", "verify_sha256", "write_saved_model_archive"),
    "tfhub_llm.hub.describe": ("describe",),
    "tfhub_llm.hub.handles": ("HandleError",),
    "tfhub_llm.hub.security": ("UntrustedModelError", "check_saved_model"),
    "tfhub_llm.hub.trust": ("RemoteHandleError", "allowing_remote_handles", "trust_directory", "trusting"),
    "tfhub_llm.layers.hub_layers": ("HubEncoder", "HubPreprocessor", "HubTextEmbedding"),
    "tfhub_llm.layers.keras_layer": ("KerasLayer",),
    "tfhub_llm.litert": ("LiteRTConversionError", "LiteRTModel", "check_litert", "export_litert"),
    "tfhub_llm.precision": ("enable_cpu_bfloat16",),
    "tfhub_llm.publishing": ("ModelCard", "export_text_embedding", "export_to_hub", "publish"),
    "tfhub_llm.readers.conll": ("TaggedSentences", "read_conll", "read_tagged_sentences"),
    "tfhub_llm.readers.datasets": ("to_dataset",),
    "tfhub_llm.readers.squad": ("SquadExample", "read_squad"),
    "tfhub_llm.readers.text_examples": ("TextExamples", "read_text_examples"),
    "tfhub_llm.tf_serving": (
        "DevelopmentServer",
        "ServingClient",
        "ServingError",
        "check_serving",
        "export_for_serving",
    ),
    "tfhub_llm.tasks.classifier": ("TextClassifier",),
    "tfhub_llm.tasks.embedding": ("TextEmbedder",),
    "tfhub_llm.tasks.embedding_metrics": ("evaluate_retrieval", "evaluate_similarity"),
    "tfhub_llm.tasks.entities": ("evaluate_entities",),
    "tfhub_llm.tasks.question_answering": ("SpanQuestionAnswerer",),
    "tfhub_llm.tasks.squad": ("first_sentence_baseline", "squad_evaluate"),
    "tfhub_llm.tasks.token_classification": ("TokenClassifier",),
    "tfhub_llm.training.classifier": ("evaluate_classifier", "finetune_classifier"),
    "tfhub_llm.training.distribute": ("multi_worker_fixes",),
    "tfhub_llm.training.embedder": ("evaluate_embedder", "finetune_embedder"),
    "tfhub_llm.training.embedding_pairs": (
        "CosineSimilarityLoss",
        "EmbeddingPairModel",
        "MultipleNegativesRankingLoss",
    ),
    "tfhub_llm.training.options": ("TrainingOptions",),
    "tfhub_llm.training.question_answering": ("evaluate_question_answering", "finetune_question_answering"),
    "tfhub_llm.training.splits": ("split_by_document", "split_examples"),
    "tfhub_llm.training.token_classifier": ("evaluate_token_classifier", "finetune_token_classifier"),
}
__getattr__, __dir__ = _lazy_exports(__name__, _MODULES)
_import_with_keras((  # every module with a keras.saving.register_keras_serializable class
    "tfhub_llm.bert.encoder", "tfhub_llm.layers.hub_layers", "tfhub_llm.layers.keras_layer",
    "tfhub_llm.tasks.classifier", "tfhub_llm.tasks.embedding", "tfhub_llm.tasks.question_answering",
    "tfhub_llm.tasks.token_classification", "tfhub_llm.training.embedding_pairs", "tfhub_llm.training.optimization"))

__all__ = sorted(name for names in _MODULES.values() for name in names)  # the public API: the table above

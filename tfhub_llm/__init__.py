"""tfhub-llm: Keras 3 layers, task heads and exporters for TF-Hub BERT SavedModels.

The public API, imported eagerly so that ``keras.models.load_model`` finds every serializable
class (layers, task models, schedules, metrics) after ``import tfhub_llm``.
"""

from tfhub_llm.bert import BertConfig, convert_hf_bert
from tfhub_llm.cpu_threads import model_server_flags, use_inference_threads
from tfhub_llm.data import TextExamples, read_text_examples, split_examples, to_dataset
from tfhub_llm.distribute import multi_worker_fixes
from tfhub_llm.errors import DataError, TfhubLlmError
from tfhub_llm.finetune import (
    evaluate_classifier,
    evaluate_question_answering,
    finetune_classifier,
    finetune_question_answering,
)
from tfhub_llm.finetune_embedding import finetune_embedder
from tfhub_llm.finetune_ner import evaluate_token_classifier, finetune_token_classifier
from tfhub_llm.hub.archive import safe_extract, verify_sha256, write_saved_model_archive
from tfhub_llm.hub.describe import describe
from tfhub_llm.hub.handles import HandleError
from tfhub_llm.hub.security import UntrustedModelError, check_saved_model
from tfhub_llm.hub.trust import trust_directory
from tfhub_llm.keras_layer import KerasLayer
from tfhub_llm.layers import HubEncoder, HubPreprocessor, HubTextEmbedding
from tfhub_llm.litert import LiteRTConversionError, LiteRTModel, check_litert, export_litert
from tfhub_llm.precision import enable_cpu_bfloat16
from tfhub_llm.publishing import ModelCard, export_text_embedding, export_to_hub, publish
from tfhub_llm.tf_serving import DevelopmentServer, ServingClient, ServingError, check_serving, export_for_serving
from tfhub_llm.tasks.classifier import TextClassifier
from tfhub_llm.tasks.conll import TaggedSentences, read_conll, read_tagged_sentences, split_by_document
from tfhub_llm.tasks.embedding import TextEmbedder
from tfhub_llm.tasks.embedding_metrics import evaluate_retrieval, evaluate_similarity
from tfhub_llm.tasks.embedding_training import CosineSimilarityLoss, EmbeddingPairModel, MultipleNegativesRankingLoss
from tfhub_llm.tasks.entities import evaluate_entities
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tasks.squad import SquadExample, first_sentence_baseline, read_squad, squad_evaluate
from tfhub_llm.tasks.token_classification import TokenClassifier
from tfhub_llm.training_options import TrainingOptions

__all__ = [
    "BertConfig",
    "CosineSimilarityLoss",
    "DataError",
    "DevelopmentServer",
    "EmbeddingPairModel",
    "HandleError",
    "HubEncoder",
    "HubPreprocessor",
    "HubTextEmbedding",
    "KerasLayer",
    "LiteRTConversionError",
    "LiteRTModel",
    "ModelCard",
    "MultipleNegativesRankingLoss",
    "ServingClient",
    "ServingError",
    "SpanQuestionAnswerer",
    "SquadExample",
    "TaggedSentences",
    "TextClassifier",
    "TextEmbedder",
    "TextExamples",
    "TfhubLlmError",
    "TokenClassifier",
    "TrainingOptions",
    "UntrustedModelError",
    "check_saved_model",
    "check_litert",
    "check_serving",
    "convert_hf_bert",
    "describe",
    "enable_cpu_bfloat16",
    "evaluate_classifier",
    "evaluate_entities",
    "evaluate_question_answering",
    "evaluate_retrieval",
    "evaluate_similarity",
    "evaluate_token_classifier",
    "export_for_serving",
    "export_litert",
    "export_text_embedding",
    "export_to_hub",
    "finetune_classifier",
    "finetune_embedder",
    "finetune_question_answering",
    "finetune_token_classifier",
    "first_sentence_baseline",
    "model_server_flags",
    "multi_worker_fixes",
    "publish",
    "read_conll",
    "read_squad",
    "read_tagged_sentences",
    "read_text_examples",
    "safe_extract",
    "split_by_document",
    "split_examples",
    "squad_evaluate",
    "to_dataset",
    "trust_directory",
    "use_inference_threads",
    "verify_sha256",
    "write_saved_model_archive",
]

"""The package's own BERT: Keras 3 encoder, WordPiece preprocessor, TF-Hub export, HF conversion.

The names load on first use (:mod:`tfhub_llm.lazy_exports`): ``tfhub_llm.bert.config`` stays TensorFlow-free.
"""

from tfhub_llm.lazy_exports import lazy_exports

_MODULES = {
    "tfhub_llm.bert.config": ("BertConfig",),
    "tfhub_llm.bert.convert": ("ConversionError", "convert_hf_bert"),
    "tfhub_llm.bert.encoder": ("BertEncoder", "build_bert_encoder"),
    "tfhub_llm.bert.export": ("save_bert_pair", "save_encoder", "save_preprocessor"),
    "tfhub_llm.bert.preprocessing": ("BertPreprocessor",),
}
__all__ = sorted(name for names in _MODULES.values() for name in names)
__getattr__, __dir__ = lazy_exports(__name__, _MODULES)

"""The package's own BERT: Keras 3 encoder, WordPiece preprocessor, TF-Hub export, HF conversion."""

from tfhub_llm.bert.config import BertConfig
from tfhub_llm.bert.convert import ConversionError, convert_hf_bert
from tfhub_llm.bert.encoder import BertEncoder, build_bert_encoder
from tfhub_llm.bert.export import save_bert_pair, save_encoder, save_preprocessor
from tfhub_llm.bert.preprocessing import BertPreprocessor

__all__ = [
    "BertConfig", "BertEncoder", "BertPreprocessor", "ConversionError", "build_bert_encoder",
    "convert_hf_bert", "save_bert_pair", "save_encoder", "save_preprocessor",
]

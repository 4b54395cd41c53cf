"""On-device models: LiteRT (TFLite) exports that take raw text, and a runner for them."""

from tfhub_llm.litert.export import export_litert
from tfhub_llm.litert.ops import LiteRTConversionError

__all__ = ["LiteRTConversionError", "export_litert"]

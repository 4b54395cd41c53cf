"""On-device models: LiteRT (TFLite) exports that take raw text, and a runner for them."""

from tfhub_llm.litert.export import export_litert
from tfhub_llm.litert.check import LiteRTCheckReport, check_litert
from tfhub_llm.litert.ops import LiteRTConversionError
from tfhub_llm.litert.runner import LiteRTModel

__all__ = ["LiteRTCheckReport", "LiteRTConversionError", "LiteRTModel", "check_litert", "export_litert"]

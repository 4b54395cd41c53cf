"""Exports of trained task models: SavedModels for TF Serving, and checks that TF Serving can run them."""

from tfhub_llm.export.check import ServingCheckReport, check_serving, compare_session_outputs, session_predict
from tfhub_llm.export.serving import export_for_serving

__all__ = ["ServingCheckReport", "check_serving", "compare_session_outputs", "export_for_serving", "session_predict"]

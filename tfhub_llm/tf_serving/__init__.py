"""TF Serving over REST: a stdlib client and a local development server speaking the same API."""

from tfhub_llm.serving.client import (
    ServerUnreachableError,
    ServingClient,
    ServingError,
    predict_texts,
)
from tfhub_llm.serving.server import DevelopmentServer, serve

__all__ = [
    "DevelopmentServer",
    "ServerUnreachableError",
    "ServingClient",
    "ServingError",
    "predict_texts",
    "serve",
]

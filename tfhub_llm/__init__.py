"""tfhub-llm: Keras 3 layers, task heads and exporters for TF-Hub BERT SavedModels."""

"""Task models (classification, question answering), their data features, metrics and optimizers."""

"""Publishing back to a hub: fine-tuned encoders as Reusable SavedModels, hub folders with model cards, Kaggle.

* :mod:`~tfhub_llm.publishing.encoder`: ``export_to_hub``, a model's encoder (and preprocessor) as TF-Hub SavedModels.
* :mod:`~tfhub_llm.publishing.text_embedding`: ``export_text_embedding``, a ``TextEmbedder`` as a TF-Hub text embedding.
* :mod:`~tfhub_llm.publishing.hub_dir`: ``publish``, a SavedModel as ``HUB_DIR/NAME/VERSION`` with checksum,
  model card and Kaggle metadata.
* :mod:`~tfhub_llm.publishing.kaggle`: Kaggle Models handles and ``upload_to_kaggle``.
"""

from tfhub_llm.publishing.encoder import export_to_hub
from tfhub_llm.publishing.hub_dir import (
    ModelCard,
    Published,
    kaggle_metadata,
    publish,
    render_model_card,
    validate_name_and_version,
)
from tfhub_llm.publishing.kaggle import KaggleUploadError, kaggle_handle_parts, upload_to_kaggle
from tfhub_llm.publishing.text_embedding import export_text_embedding

__all__ = [
    "KaggleUploadError", "ModelCard", "Published", "export_text_embedding", "export_to_hub", "kaggle_handle_parts",
    "kaggle_metadata",
    "publish", "render_model_card", "upload_to_kaggle", "validate_name_and_version",
]

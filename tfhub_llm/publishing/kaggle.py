"""Kaggle Models: checking ``OWNER/MODEL/tensorFlow2/VARIATION`` handles and uploading a SavedModel folder.

The upload goes through ``kagglehub.model_upload``, an optional package (``pip install kagglehub``)
imported only when an upload is asked for.
"""

from __future__ import annotations

import os
import re

import tensorflow as tf

from tfhub_llm.errors import InvalidArgumentError, MissingFileError, TfhubLlmError

KAGGLE_FRAMEWORK = "tensorFlow2"


class KaggleUploadError(TfhubLlmError, RuntimeError):
    """kagglehub is missing, or the upload to Kaggle Models failed (offline, no credentials...)."""


def kaggle_handle_parts(handle: str) -> dict[str, str]:
    """``OWNER/MODEL/tensorFlow2/VARIATION`` → its parts; raises ``InvalidArgumentError`` naming what is wrong."""
    parts = handle.split("/")
    if len(parts) != 4:
        raise InvalidArgumentError(f"Kaggle handle {handle!r}: expected OWNER/MODEL/{KAGGLE_FRAMEWORK}/VARIATION")
    owner, model, framework, variation = parts
    if framework.lower() != KAGGLE_FRAMEWORK.lower():
        raise InvalidArgumentError(
            f"Kaggle handle {handle!r}: the framework must be {KAGGLE_FRAMEWORK} (a TF2 SavedModel), got {framework!r}")
    for field, value in (("owner", owner), ("model", model), ("variation", variation)):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", value):
            raise InvalidArgumentError(
                f"Kaggle handle {handle!r}: the {field} {value!r} must be letters, digits, '-' or '_'")
    return {"owner": owner, "model": model, "framework": KAGGLE_FRAMEWORK, "variation": variation}


def import_kagglehub():
    """The kagglehub module; raises ``KaggleUploadError`` saying how to install it when it is missing."""
    try:
        import kagglehub  # an optional package: only publishing to Kaggle needs it
    except ImportError as error:
        raise KaggleUploadError(
            "Publishing to Kaggle Models needs the kagglehub package: `pip install kagglehub`, then set "
            "KAGGLE_USERNAME and KAGGLE_KEY (or ~/.kaggle/kaggle.json)") from error
    return kagglehub


def upload_to_kaggle(saved_model_dir: str | os.PathLike, handle: str, *, license_name: str = "Apache 2.0",
                     version_notes: str = "") -> None:
    """Uploads a SavedModel folder as a new version of the Kaggle Models ``OWNER/MODEL/tensorFlow2/VARIATION``."""
    kaggle_handle_parts(handle)
    if not os.path.isfile(os.path.join(saved_model_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)):
        raise MissingFileError(f"{saved_model_dir} is not a SavedModel folder (no saved_model.pb)")
    kagglehub = import_kagglehub()
    try:
        kagglehub.model_upload(handle, os.fspath(saved_model_dir), license_name=license_name, version_notes=version_notes)
    except OSError as error:  # requests' ConnectionError/HTTPError and socket errors are OSErrors
        raise KaggleUploadError(
            f"Uploading {saved_model_dir} to Kaggle Models {handle!r} failed: {error}. The machine may be "
            "offline, or the Kaggle credentials (KAGGLE_USERNAME/KAGGLE_KEY) missing or wrong") from error

"""Loading a task model from a ``.keras`` file, with an error that says what the path is when it is not one.

Keras answers a folder with advice about ``TFSMLayer``, a text file or a truncated archive with
"File not found", and a model of another task is only found out by an ``AttributeError`` later. Here
each of those is a :class:`ModelFileError` naming the path, what it is, and what was expected.
"""

import os
import zipfile

from tfhub_llm.errors import InvalidFileError, MissingFileError, TfhubLlmError

EXPECTED = "a model.keras written by finetune"


class ModelFileError(InvalidFileError):
    """A path given as a ``.keras`` model that is something else (a folder, a damaged file, another task's model)."""


def load_model_file(path, expected_class=None):
    """The model in the ``.keras`` file ``path``; with ``expected_class``, it must be an instance of it."""
    import keras

    import tfhub_llm
    from tfhub_llm.lazy_exports import load_all

    load_all(tfhub_llm)  # Keras finds the package's classes in the file once their modules are imported
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(f"{path}: no such file; expected {EXPECTED}")
    if os.path.isdir(path):
        what = "a SavedModel folder" if os.path.isfile(os.path.join(path, "saved_model.pb")) else "a folder"
        raise ModelFileError(f"{path} is {what}, not a .keras file; expected {EXPECTED}")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path} is a truncated or corrupt .keras file (not a zip archive); expected {EXPECTED}")
    try:
        model = keras.models.load_model(path)
    except TfhubLlmError:
        raise  # the file's handles or the scan of its SavedModels: already says what is wrong
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path} is a truncated or corrupt .keras file ({detail})") from None
    if expected_class is not None and not isinstance(model, expected_class):
        raise ModelFileError(f"{path} holds a {type(model).__name__}, not a {expected_class.__name__}")
    return model

"""The one rule for numbers read from text the package does not control: ASCII digits only.

Version folder names (:func:`tfhub_llm.tf_serving.export.is_version_name`), the VERSION of
``tfhub-llm serve --label LABEL=VERSION``, an HTTP Content-Length, the process id in a staging
folder's name and a tensor's output index in a graph are all runs of ASCII digits: ``str.isdigit()``
alone also takes '²' or '٣', which ``int()`` then refuses or reads as another number.
Standard library only, so the CLI's argument parsing needs no TensorFlow.
"""


def is_ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits ('0'-'9'), and nothing else."""
    return text.isascii() and text.isdigit()

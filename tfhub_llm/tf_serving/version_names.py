"""The one rule for the numbers TF Serving's side reads from text: ASCII digits only.

A version folder's name (:func:`tfhub_llm.tf_serving.export.is_version_name`), the VERSION of
``tfhub-llm serve --label LABEL=VERSION`` and an HTTP Content-Length are all a run of ASCII digits:
``str.isdigit()`` alone also takes '²' or '٣', which ``int()`` then refuses or reads as another number.
Standard library only, so the CLI's argument parsing needs no TensorFlow.
"""


def is_ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits ('0'-'9'), and nothing else."""
    return text.isascii() and text.isdigit()

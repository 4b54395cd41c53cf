"""The one ASCII-digit rule, as version folder names and ``serve --label LABEL=VERSION`` apply it."""

import pytest

from tfhub_llm.cli.serving import parse_labels
from tfhub_llm.ascii_digits import is_ascii_digits
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.tf_serving.export import is_version_name


@pytest.mark.parametrize("text, digits", [
    ("0", True), ("123", True), ("", False), ("²", False), ("٣", False), ("1 ", False), ("-1", False), ("+1", False),
])
def test_only_ascii_digits_are_numbers(text, digits):
    assert is_ascii_digits(text) is digits
    assert is_version_name(text) is digits


def test_label_versions_are_ascii_digits():
    assert parse_labels(["stable=1", "canary=12"]) == {"stable": 1, "canary": 12}
    for item in ("stable=²", "stable=٣", "stable=", "=1", "stable"):
        with pytest.raises(InvalidArgumentError, match="expected LABEL=VERSION"):
            parse_labels([item])

"""TrainingOptions refuses values no run can use, when it is built (before any data is read)."""

import pytest

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.training.options import TrainingOptions


@pytest.mark.parametrize("field, value", [
    ("epochs", -1), ("epochs", 0), ("batch_size", 0), ("learning_rate", -1.0), ("learning_rate", 0.0),
    ("learning_rate", float("nan")), ("max_train_examples", 0), ("max_validation_examples", -5), ("patience", 0),
    ("epochs", 1.5),
])
def test_nonsense_is_refused_naming_the_field(field, value):
    with pytest.raises(InvalidArgumentError, match=f"{field} must be a positive"):
        TrainingOptions(**{field: value})


def test_sensible_values_pass():
    assert TrainingOptions(epochs=1, batch_size=1, learning_rate=1e-5, max_train_examples=1, patience=1).epochs == 1

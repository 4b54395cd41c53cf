"""How a fine-tuning run trains: :class:`TrainingOptions`, and each task's defaults.

A leaf (no TensorFlow import; its values are checked when it is built): every ``finetune_*`` function takes ``options=TrainingOptions(...)``
and the ``tfhub-llm finetune`` command builds one from its flags, with the same defaults.
"""

import dataclasses
import math

from tfhub_llm.errors import InvalidArgumentError


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """The options every fine-tuning run shares, whatever its task.

    ``max_train_examples`` / ``max_validation_examples`` train / validate on a seeded sample of
    that size; ``patience`` stops early after that many epochs without a better validation loss;
    ``resume`` continues an interrupted run in the output directory (without it such a directory is
    refused); ``overwrite`` replaces a finished (or interrupted) run there, in one rename once the new
    run has finished, so a failed run leaves the old one as it was; ``verbose`` and ``callbacks`` go
    to ``fit`` (after the run's own callbacks).
    """

    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 3e-5
    seed: int = 0
    max_train_examples: int | None = None
    max_validation_examples: int | None = None
    patience: int | None = None
    resume: bool = False
    overwrite: bool = False
    verbose: int = 1
    callbacks: tuple = ()

    def __post_init__(self) -> None:
        """Refuses values no run can use, before any work (a negative epoch count would train nothing)."""
        for name in ("epochs", "batch_size", "max_train_examples", "max_validation_examples", "patience"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and self.learning_rate > 0):
            raise InvalidArgumentError(f"learning_rate must be a positive number, got {self.learning_rate!r}")

    def train_steps(self, num_train_examples: int) -> int:
        """Optimizer steps of the whole run (what the learning-rate schedule spans)."""
        return self.epochs * math.ceil(num_train_examples / self.batch_size)


CLASSIFIER_TRAINING = TrainingOptions()
QUESTION_ANSWERING_TRAINING = TrainingOptions(batch_size=16, learning_rate=5e-5)
EMBEDDER_TRAINING = TrainingOptions(epochs=1, learning_rate=2e-5)
TOKEN_CLASSIFIER_TRAINING = TrainingOptions(learning_rate=5e-5)

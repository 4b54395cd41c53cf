"""How a fine-tuning run trains: :class:`TrainingOptions`, and each task's defaults.

A leaf (no TensorFlow import): every ``finetune_*`` function takes ``training=TrainingOptions(...)``
and the ``tfhub-llm finetune`` command builds one from its flags, with the same defaults.
"""

import dataclasses
import math


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

    def train_steps(self, num_train_examples):
        """Optimizer steps of the whole run (what the learning-rate schedule spans)."""
        return self.epochs * math.ceil(num_train_examples / self.batch_size)


CLASSIFIER_TRAINING = TrainingOptions()
QUESTION_ANSWERING_TRAINING = TrainingOptions(batch_size=16, learning_rate=5e-5)
EMBEDDER_TRAINING = TrainingOptions(epochs=1, learning_rate=2e-5)
TOKEN_CLASSIFIER_TRAINING = TrainingOptions(learning_rate=5e-5)

"""The tiny classifier run that the run-machinery tests interrupt, resume and overwrite."""

import dataclasses

import keras

from tests.harness import DATA, TINY_ENCODER, TINY_PREPROCESSOR
from tfhub_llm.training.classifier import finetune_classifier
from tfhub_llm.training.options import TrainingOptions

SST2 = DATA / "sst2" / "train.tsv"
TINY_RUN = TrainingOptions(max_train_examples=48, max_validation_examples=16, epochs=2, batch_size=16, verbose=0)


class InterruptAtEpoch(keras.callbacks.Callback):
    """Simulates a crash at the start of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"interrupted at epoch {epoch}")


def classify(out_dir, **changes):
    """The tiny classifier run, its TrainingOptions changed as ``changes`` say."""
    return finetune_classifier(
        TINY_ENCODER, TINY_PREPROCESSOR, SST2, str(out_dir), text_column="text", label_column="label",
        options=dataclasses.replace(TINY_RUN, **changes),
    )

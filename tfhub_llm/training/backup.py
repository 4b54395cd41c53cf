"""A fine-tuning run's backup for ``--resume``: Keras' ``BackupAndRestore``, written atomically and verified.

Keras writes ``backup/latest.weights.h5`` and ``training_metadata.json`` in place, so a run killed or
out of disk space while writing leaves a truncated checkpoint that the next ``--resume`` loads (or
crashes on). Here each epoch's weights go to a new file through :mod:`tfhub_llm.atomic`, and then the
metadata (the commit point, also atomic) names that file with its SHA-256 and records the history of
every finished epoch. ``--resume`` refuses a backup whose weights are not the ones recorded, and a
resumed run's history starts with the epochs before the interruption. HDF5 cannot recover from a
write that fails for lack of space (h5py then crashes the process when it frees the file), so the
free space is checked before each backup: a full disk is a clean ``OSError`` (ENOSPC).
"""

import errno
import json
import math
import os
import shutil

import keras
import tensorflow as tf

from tfhub_llm.atomic import atomic_file, write_text
from tfhub_llm.errors import InvalidFileError
from tfhub_llm.hub.archive import file_sha256


class CorruptBackupError(InvalidFileError):
    """A run's backup that is incomplete or damaged, so it cannot be resumed."""


class VerifiedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` at every epoch's end; ``history`` holds the logs of every epoch, restored ones first."""

    def __init__(self, backup_dir):
        super().__init__(os.fspath(backup_dir), save_freq="epoch", delete_checkpoint=True)
        self.history = {}

    def on_train_begin(self, logs=None):
        self.history = self._verified_history()
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        name = f"epoch-{self._current_epoch}.weights.h5"
        _require_free_space(os.path.dirname(self.backup_dir), _weights_nbytes(self.model))
        with atomic_file(os.path.join(self.backup_dir, name), suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary)
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name,
                    "weights_sha256": file_sha256(os.path.join(self.backup_dir, name)), "history": self.history}
        write_text(self._training_metadata_path, json.dumps(metadata) + "\n")
        for stale in os.listdir(self.backup_dir):
            if stale.endswith(".weights.h5") and stale != name:
                os.remove(os.path.join(self.backup_dir, stale))

    def _verified_history(self):
        """The history in the backup's metadata, after pointing Keras at its verified weights; {} without a backup."""
        if not os.path.exists(self._training_metadata_path):
            if os.path.isdir(self.backup_dir) and os.listdir(self.backup_dir):
                raise self._corrupt("it has no training_metadata.json")
            return {}
        try:
            with open(self._training_metadata_path, encoding="utf-8") as f:
                metadata = json.load(f)
            weights = os.path.join(self.backup_dir, metadata["weights"])
            expected_sha256, history = metadata["weights_sha256"], metadata["history"]
        except (ValueError, KeyError, TypeError) as error:
            raise self._corrupt(f"training_metadata.json is unreadable ({error})") from None
        if not os.path.isfile(weights) or file_sha256(weights) != expected_sha256:
            raise self._corrupt(f"{metadata['weights']} is missing or not the file its metadata records")
        self._weights_path = weights
        return history

    def _corrupt(self, problem):
        return CorruptBackupError(
            f"{self.backup_dir}: cannot resume from this backup: {problem}; pass --overwrite (overwrite=True) "
            "to start the run afresh")


def _weights_nbytes(model):
    """Bytes of the model's and its optimizer's variables: about what a ``.weights.h5`` of the model takes."""
    variables = [*model.weights, *(model.optimizer.variables if model.optimizer else ())]
    return sum(math.prod(variable.shape) * tf.as_dtype(variable.dtype).size for variable in variables)


def _require_free_space(folder, nbytes, margin=1.05, slack=1 << 20):
    free = shutil.disk_usage(folder).free
    needed = int(nbytes * margin) + slack
    if free < needed:
        raise OSError(errno.ENOSPC, f"No space left on device for the run's backup: {folder} has "
                                    f"{free / 1e6:.1f} MB free, the backup needs about {needed / 1e6:.1f} MB")

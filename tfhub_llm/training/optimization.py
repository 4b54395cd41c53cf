"""BERT fine-tuning's optimizer and metrics: AdamW with linear warmup then linear decay, binary F1 / AUC."""

import keras
from keras import ops

NO_WEIGHT_DECAY = ("bias", "beta", "gamma", "LayerNorm", "layer_norm")


@keras.saving.register_keras_serializable(package="tfhub_llm")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly from 0 to ``peak_learning_rate`` over ``warmup_steps``, then falls linearly to 0."""

    def __init__(self, peak_learning_rate, total_steps, warmup_steps):
        self.peak_learning_rate = peak_learning_rate
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = max(int(warmup_steps), 0)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = self.peak_learning_rate * step / max(self.warmup_steps, 1)
        decay_span = max(self.total_steps - self.warmup_steps, 1)
        decay = self.peak_learning_rate * ops.maximum(0.0, (self.total_steps - step) / decay_span)
        return ops.where(step < self.warmup_steps, warmup, decay)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


def bert_adamw(learning_rate=3e-5, train_steps=None, warmup_fraction=0.1, weight_decay=0.01):
    """AdamW as BERT fine-tuning uses it; without ``train_steps`` the learning rate stays constant."""
    if train_steps:
        learning_rate = WarmupLinearDecay(learning_rate, train_steps, warmup_fraction * train_steps)
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def _positive_class(y_true, y_pred):
    """Integer labels and two-class probabilities → (labels, probability of class 1), both [batch, 1]."""
    return ops.reshape(ops.cast(y_true, "float32"), (-1, 1)), y_pred[:, 1:2]


@keras.saving.register_keras_serializable(package="tfhub_llm")
class BinaryF1(keras.metrics.F1Score):
    """F1 of class 1 for integer labels and two-class probabilities."""

    def __init__(self, name="f1", threshold=0.5, **kwargs):
        kwargs.pop("average", None)
        super().__init__(name=name, threshold=threshold, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(*_positive_class(y_true, y_pred), sample_weight=sample_weight)

    def result(self):
        return ops.squeeze(super().result())


@keras.saving.register_keras_serializable(package="tfhub_llm")
class BinaryAUC(keras.metrics.AUC):
    """ROC AUC of class 1 for integer labels and two-class probabilities."""

    def __init__(self, name="auc", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(*_positive_class(y_true, y_pred), sample_weight=sample_weight)

"""``SpanQuestionAnswerer``: extractive QA (SQuAD v1.1 / v2.0) over any TF-Hub BERT encoder.

The model maps the encoder's input dict to start / end logits over ``sequence_output``. Windows
over long contexts and the way back from logits to answer text live in
:mod:`tfhub_llm.tasks.qa_features`; this module ties them to a preprocessor that has
``tokenize_with_offsets``, so every answer is an exact substring of its context.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm.hub_contract import ENCODER_INPUT_KEYS
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.squad import SquadExample
from tfhub_llm.tasks.base import BertTask, encoder_layer, preprocessor_layer
from tfhub_llm.tasks.offsets import characters_at_bytes
from tfhub_llm.tasks.qa_features import QAFeatures, make_qa_features, postprocess_qa
from tfhub_llm.tasks.qa_serving import QuestionAnsweringServing
from tfhub_llm.training.options import QUESTION_ANSWERING_TRAINING

LOGIT_KEYS = ("start_logits", "end_logits")
PADDING_LOGIT = -10000.0


class PreprocessorOffsets:
    """Adapts a :class:`HubPreprocessor` to ``qa_features``' tokenizer protocol (character offsets)."""

    def __init__(self, preprocessor):
        if not preprocessor.has_offsets:
            raise InvalidArgumentError(
                f"The preprocessor {preprocessor.handle!r} has no tokenize_with_offsets, which question "
                "answering needs to map answers back to the context; use a preprocessor that has it "
                "(those built by tfhub_llm.convert_hf_bert and savedmodels/ do, and Model Garden's WordPiece "
                "ones exported with tokenize_with_offsets; its SentencePiece ones never have it)."
            )
        self.preprocessor = preprocessor
        self.cls_id, self.sep_id, self.pad_id = preprocessor.special_ids

    def tokenize_with_offsets(self, texts):
        flat = [ragged.to_list() for ragged in self.preprocessor.tokenize_with_offsets(texts)]
        return [
            (np.asarray(i), *characters_at_bytes(text, np.asarray(s), np.asarray(e)))
            for text, i, s, e in zip(texts, *flat)
        ]


@keras.saving.register_keras_serializable(package="tfhub_llm")
class SpanQuestionAnswerer(BertTask):
    """Extractive question answering: start / end logits over the encoder's ``sequence_output``.

    Args:
        encoder: a :class:`HubEncoder` or an encoder handle (loaded trainable).
        preprocessor: a :class:`HubPreprocessor` or handle whose SavedModel has ``tokenize_with_offsets``.
        max_seq_length: the length of each window; by default the preprocessor's own default length
            (BERT's SQuAD recipe uses 384 where the encoder's position embeddings allow it).
        doc_stride, max_query_length: the windows' stride over each context, and the question's maximum
            length in tokens (default 64, or half of ``max_seq_length`` when that is shorter than 128).
        n_best_size, max_answer_length: how answers are searched among the logits.
        version_2_with_negative: SQuAD v2.0: questions may have no answer in the context.
        null_score_diff_threshold: v2.0: answer "" when the null score beats the best span by more than this.

    Example:
        >>> model = SpanQuestionAnswerer(ENCODER, PREPROCESSOR)
        >>> model.fit_examples(read_squad("train-v1.1.json"), epochs=2)
        >>> model.predict_answers(["Who wrote it?"], ["It was written by Ada."])
        [{'answer': 'Ada', 'score': ..., 'start': 18, 'end': 21}]
    """

    LEARNING_RATE = QUESTION_ANSWERING_TRAINING.learning_rate

    def __init__(
        self,
        encoder: str | HubEncoder,
        preprocessor: str | HubPreprocessor,
        max_seq_length: int | None = None,
        doc_stride: int = 128,
        max_query_length: int | None = None,
        n_best_size: int = 20,
        max_answer_length: int = 30,
        version_2_with_negative: bool = False,
        null_score_diff_threshold: float = 0.0,
        **kwargs,
    ):
        encoder = encoder_layer(encoder)
        preprocessor = preprocessor_layer(preprocessor, max_seq_length)
        offset_tokenizer = PreprocessorOffsets(preprocessor)  # refuses a preprocessor without offsets now
        inputs = {key: keras.Input(shape=(None,), dtype="int32", name=key) for key in ENCODER_INPUT_KEYS}
        sequence = encoder(inputs)["sequence_output"]
        logits = keras.layers.Dense(2, dtype="float32", name="span_logits")(sequence)
        padding = (1.0 - ops.cast(inputs["input_mask"], "float32")) * PADDING_LOGIT
        outputs = {
            "start_logits": keras.layers.Identity(name="start_logits")(logits[..., 0] + padding),
            "end_logits": keras.layers.Identity(name="end_logits")(logits[..., 1] + padding),
        }
        super().__init__(inputs, outputs, **kwargs)
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.offset_tokenizer = offset_tokenizer
        self.max_seq_length = preprocessor.max_seq_length
        self.doc_stride = doc_stride
        self.max_query_length = min(64, self.max_seq_length // 2) if max_query_length is None else max_query_length
        self.n_best_size = n_best_size
        self.max_answer_length = max_answer_length
        self.version_2_with_negative = version_2_with_negative
        self.null_score_diff_threshold = null_score_diff_threshold
        self.compile()

    def compile(self, optimizer="auto", loss="auto", **kwargs) -> None:
        """:meth:`BertTask.compile` with BERT's SQuAD recipe by default: the mean of the start and end losses."""
        if loss == "auto":
            kwargs.setdefault("loss_weights", {key: 0.5 for key in LOGIT_KEYS})
        super().compile(optimizer, loss, **kwargs)

    def default_loss(self) -> dict[str, keras.losses.Loss]:
        return {key: keras.losses.SparseCategoricalCrossentropy(from_logits=True) for key in LOGIT_KEYS}

    def serving_module(self) -> QuestionAnsweringServing:
        """Its TF Serving signature: ``question`` and ``context`` in, ``answer``, ``score``, ``start``, ``end`` out."""
        return QuestionAnsweringServing(self)

    def task_config(self) -> dict:
        return {
            "max_seq_length": self.max_seq_length,
            "doc_stride": self.doc_stride,
            "max_query_length": self.max_query_length,
            "n_best_size": self.n_best_size,
            "max_answer_length": self.max_answer_length,
            "version_2_with_negative": self.version_2_with_negative,
            "null_score_diff_threshold": self.null_score_diff_threshold,
        }

    def make_features(self, examples: Sequence[SquadExample]) -> QAFeatures:
        """SQuAD examples → windowed features (numpy), with answer positions for training."""
        return make_qa_features(
            examples, self.offset_tokenizer, self.max_seq_length, self.doc_stride, self.max_query_length
        )

    def features_dataset(self, features: QAFeatures, batch_size: int = 32, shuffle: bool = True,
                         seed: int | None = None) -> tf.data.Dataset:
        """A ``tf.data`` pipeline of ``(encoder inputs, {"start_logits": ..., "end_logits": ...})``."""
        targets = {"start_logits": features.start_positions, "end_logits": features.end_positions}
        dataset = tf.data.Dataset.from_tensor_slices((features.encoder_inputs(), targets))
        if shuffle:
            dataset = dataset.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def fit_examples(self, examples: Sequence[SquadExample], batch_size: int = 32, epochs: int = 1,
                     seed: int | None = None, **fit_kwargs) -> keras.callbacks.History:
        """Trains on SQuAD examples: features, a shuffled dataset, then ``fit``."""
        dataset = self.features_dataset(self.make_features(examples), batch_size, shuffle=True, seed=seed)
        return self.fit(dataset, epochs=epochs, **fit_kwargs)

    def predict_examples(self, examples: Sequence[SquadExample], batch_size: int = 32) -> list[dict]:
        """One ``{"answer", "score", "start", "end"}`` per example, the best span over all its windows."""
        features = self.make_features(examples)
        logits = self.predict(features.encoder_inputs(), batch_size=batch_size, verbose=0)
        return postprocess_qa(
            features,
            logits["start_logits"],
            logits["end_logits"],
            [example.context for example in examples],
            n_best_size=self.n_best_size,
            max_answer_length=self.max_answer_length,
            version_2_with_negative=self.version_2_with_negative,
            null_score_diff_threshold=self.null_score_diff_threshold,
        )

    def predict_answers(self, questions: Sequence[str], contexts: Sequence[str], batch_size: int = 32) -> list[dict]:
        """Answers each question from its context; ``start`` / ``end`` are character offsets into it."""
        if len(questions) != len(contexts):
            raise InvalidArgumentError(f"{len(questions)} questions but {len(contexts)} contexts.")
        examples = [
            SquadExample(qas_id=str(index), question=question, context=context, answers=[], is_impossible=False)
            for index, (question, context) in enumerate(zip(questions, contexts))
        ]
        return self.predict_examples(examples, batch_size)

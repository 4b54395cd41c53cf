"""Fine-tuning runs of a ``TextEmbedder`` from a file of sentence pairs: what ``tfhub-llm finetune embed`` calls.

The run is the one of :mod:`tfhub_llm.finetune` (data checked first, ``BackupAndRestore``, best
checkpoint, early stopping, ``model.keras`` + ``history.json`` + ``metrics.json``); ``model.keras``
and ``best.keras`` hold the embedder itself. Scored pairs train with the cosine-similarity loss and
are evaluated by Spearman / Pearson; unscored pairs are positives, trained with the
multiple-negatives ranking loss and evaluated by retrieving each pair's second text among all
second texts of the validation set.
"""

import dataclasses
import math
import os

import keras
import numpy as np

from tfhub_llm.data import read_text_examples, split_examples, to_dataset
from tfhub_llm.errors import DataError, InvalidArgumentError
from tfhub_llm.finetune import fit_and_save, refuse_unresumed_run, sample_examples, write_json
from tfhub_llm.tasks.embedding import TextEmbedder
from tfhub_llm.tasks.embedding_metrics import evaluate_retrieval, evaluate_similarity
from tfhub_llm.tasks.embedding_training import CosineSimilarityLoss, EmbeddingPairModel, MultipleNegativesRankingLoss


def finetune_embedder(
    encoder,
    preprocessor,
    train_file,
    out_dir,
    *,
    text_column,
    text_b_column,
    score_column=None,
    max_score=1.0,
    validation_file=None,
    validation_fraction=0.1,
    max_train_examples=None,
    max_validation_examples=None,
    pooling="mean",
    normalize=True,
    seq_length=None,
    epochs=1,
    batch_size=32,
    learning_rate=2e-5,
    mnrl_scale=20.0,
    seed=0,
    patience=None,
    resume=False,
    verbose=1,
    callbacks=(),
):
    """Fine-tunes a :class:`TextEmbedder` on a CSV / TSV / JSONL file of pairs and saves it under ``out_dir``.

    With ``score_column``, each score is divided by ``max_score`` (5 for STS-B's 0-5 scale) and must
    then lie in [-1, 1], the cosine's range. Without it, every pair is a positive pair.
    """
    read = dict(text_column=text_column, text_b_column=text_b_column, label_column=score_column,
                label_type="regression")
    examples = _scaled(read_text_examples(train_file, **read), score_column, max_score)
    if validation_file:
        train, validation = examples, _scaled(read_text_examples(validation_file, **read), score_column, max_score)
    else:
        train, validation = split_examples(examples, validation_fraction, seed)
    train = _with_positive_ids(sample_examples(train, max_train_examples, seed), score_column)
    validation = _with_positive_ids(sample_examples(validation, max_validation_examples, seed), score_column)
    if score_column and len(validation) < 2:
        raise DataError(validation_file or train_file, None, None,
                        f"{len(validation)} validation pair; a correlation needs at least 2: give more pairs, "
                        "a larger validation_fraction or a validation file")
    refuse_unresumed_run(out_dir, resume)

    keras.utils.set_random_seed(seed)
    embedder = TextEmbedder(encoder, preprocessor, pooling=pooling, normalize=normalize, seq_length=seq_length)
    pairs = EmbeddingPairModel(embedder)
    loss = CosineSimilarityLoss() if score_column else MultipleNegativesRankingLoss(scale=mnrl_scale)
    pairs.compile(loss=loss, learning_rate=learning_rate, train_steps=epochs * math.ceil(len(train) / batch_size))
    train_data = to_dataset(train, batch_size, shuffle=True, seed=seed)
    validation_data = to_dataset(validation, batch_size, shuffle=False)
    result = fit_and_save(pairs, train_data, validation_data, out_dir, epochs, patience, verbose, callbacks,
                           saved_model=embedder)
    result.validation_examples = validation
    result.metrics.update(_evaluate(embedder, validation, score_column, batch_size))
    write_json(os.path.join(out_dir, "metrics.json"), result.metrics)
    return result


def _scaled(examples, score_column, max_score):
    """Scores divided by ``max_score``; a DataError names the first that falls outside [-1, 1]."""
    if not score_column:
        return examples
    if not max_score > 0:
        raise InvalidArgumentError(f"max_score must be positive, got {max_score}.")
    scores = examples.labels / max_score
    outside = np.flatnonzero(np.abs(scores) > 1)
    if len(outside):
        row = int(outside[0])
        raise DataError(examples.path, f"example {row + 1}", score_column,
                        f"score {examples.labels[row]:g} / max_score {max_score:g} is outside [-1, 1], the cosine's "
                        "range: pass the scale's largest score as max_score (--max-score 5 for STS-B)")
    return dataclasses.replace(examples, labels=scores.astype(np.float32))


def _with_positive_ids(examples, score_column):
    """For positive pairs, labels = an id of each second text (what MultipleNegativesRankingLoss takes)."""
    if score_column:
        return examples
    ids = {text: index for index, text in enumerate(dict.fromkeys(examples.texts_b))}
    return dataclasses.replace(examples, labels=np.array([ids[text] for text in examples.texts_b], np.int32))


def _evaluate(embedder, validation, score_column, batch_size):
    if score_column:
        scores = evaluate_similarity(embedder, validation.texts, validation.texts_b, validation.labels, batch_size)
    else:
        corpus = list(dict.fromkeys(validation.texts_b))
        scores = evaluate_retrieval(embedder, validation.texts, corpus, validation.labels, batch_size=batch_size)
    return {f"validation_{key}": value for key, value in scores.items()}

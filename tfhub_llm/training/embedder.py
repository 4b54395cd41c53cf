"""Fine-tuning runs of a ``TextEmbedder`` from a file of sentence pairs: what ``tfhub-llm finetune embed`` calls.

The run is the one of :mod:`tfhub_llm.training.run` (data checked first, ``BackupAndRestore``, best
checkpoint, early stopping, ``model.keras`` + ``history.json`` + ``metrics.json``); ``model.keras``
and ``best.keras`` hold the embedder itself. Scored pairs train with the cosine-similarity loss and
are evaluated by Spearman / Pearson; unscored pairs are positives, trained with the
multiple-negatives ranking loss and evaluated by retrieving each pair's second text among all
second texts of the validation set.
"""

import dataclasses
import functools
import os

import keras
import numpy as np

from tfhub_llm.errors import DataError, InvalidArgumentError
from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor
from tfhub_llm.readers.text_examples import read_text_examples
from tfhub_llm.tasks.embedding import TextEmbedder
from tfhub_llm.tasks.embedding_metrics import evaluate_retrieval, evaluate_similarity
from tfhub_llm.training.data_summary import summarize_text_pairs
from tfhub_llm.training.embedding_pairs import CosineSimilarityLoss, EmbeddingPairModel, MultipleNegativesRankingLoss
from tfhub_llm.training.options import EMBEDDER_TRAINING, TrainingOptions
from tfhub_llm.training.run import FinetuneResult, load_model_or_path, sample_split, start_run, train_on_examples
from tfhub_llm.training.splits import split_examples


def finetune_embedder(
    encoder: str | HubEncoder,
    preprocessor: str | HubPreprocessor,
    train_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    text_column: str,
    text_b_column: str,
    score_column: str | None = None,
    max_score: float = 1.0,
    validation_file: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    pooling: str = "mean",
    normalize: bool = True,
    seq_length: int | None = None,
    mnrl_scale: float = 20.0,
    options: TrainingOptions = EMBEDDER_TRAINING,
) -> FinetuneResult:
    """Fine-tunes a :class:`TextEmbedder` on a CSV / TSV / JSONL file of pairs and saves it under ``out_dir``.

    With ``score_column``, each score is divided by ``max_score`` (5 for STS-B's 0-5 scale) and must
    then lie in [-1, 1], the cosine's range. Without it, every pair is a positive pair. ``options``
    (:class:`~tfhub_llm.training.options.TrainingOptions`) says how the run trains.
    """
    train, validation = _read_pairs(train_file, validation_file, text_column, text_b_column, score_column, max_score,
                                    validation_fraction, options)
    start_run(out_dir, options)
    embedder = TextEmbedder(encoder, preprocessor, pooling=pooling, normalize=normalize, seq_length=seq_length)
    if options.verbose:
        split = (f"validation from {validation_file}" if validation_file
                 else f"{validation_fraction:.0%} of the pairs held out")
        print(summarize_text_pairs(train, validation, embedder.preprocessor, split, scored=bool(score_column)),
              flush=True)
    loss = CosineSimilarityLoss() if score_column else MultipleNegativesRankingLoss(scale=mnrl_scale)
    return train_on_examples(EmbeddingPairModel(embedder), train, validation, out_dir, options, loss=loss,
                             saved_model=embedder,
                             evaluate=lambda embedder: _evaluate(embedder, validation, score_column, options.batch_size))


def evaluate_embedder(model: keras.Model | str | os.PathLike, data_file: str | os.PathLike, *, text_column: str,
                      text_b_column: str, score_column: str | None = None, max_score: float = 1.0,
                      batch_size: int = 32) -> dict[str, float]:
    """Scores of an embedder (a model or a ``.keras`` path) on a file of pairs, as a run's ``metrics.json`` has them.

    With ``score_column`` (scaled by ``max_score``): the Spearman / Pearson correlations of cosine and
    score; without it, each pair is a positive and the second texts are the corpus: retrieval scores.
    """
    if text_b_column is None:
        raise InvalidArgumentError("text_b_column (--text-b-column) is required: an embedder is evaluated on pairs")
    embedder = load_model_or_path(model, TextEmbedder)
    pairs = read_text_examples(data_file, text_column=text_column, text_b_column=text_b_column,
                               label_column=score_column, label_type="regression")
    pairs = _with_positive_ids(_scaled(pairs, score_column, max_score), score_column)
    return {key.removeprefix("validation_"): value
            for key, value in _evaluate(embedder, pairs, score_column, batch_size).items()}


def _read_pairs(train_file, validation_file, text_column, text_b_column, score_column, max_score, validation_fraction,
                options):
    """(train, validation) pairs, scores scaled (or positive ids as labels), sampled as ``options`` says."""
    read = functools.partial(read_text_examples, text_column=text_column, text_b_column=text_b_column,
                             label_column=score_column, label_type="regression")
    examples = _scaled(read(train_file), score_column, max_score)
    if validation_file:
        train, validation = examples, _scaled(read(validation_file), score_column, max_score)
    else:
        train, validation = split_examples(examples, validation_fraction, options.seed)
    train, validation = (_with_positive_ids(part, score_column) for part in sample_split(train, validation, options))
    if score_column and len(validation) < 2:
        raise DataError(validation_file or train_file, None, None,
                        f"{len(validation)} validation pair; a correlation needs at least 2: give more pairs, "
                        "a larger validation_fraction or a validation file")
    return train, validation


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

"""How good an embedder is: semantic similarity (Spearman / Pearson) and retrieval (recall@k, MRR).

``evaluate_similarity`` scores the cosine of each pair against gold scores, as the STS benchmarks
and sentence-transformers' ``EmbeddingSimilarityEvaluator`` do; ``evaluate_retrieval`` ranks a
corpus for each query by cosine. All figures are percentages (x100). The embedder is anything
with ``embed(texts, batch_size)`` returning a 2-D array (a :class:`TextEmbedder`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from tfhub_llm.errors import InvalidArgumentError

if TYPE_CHECKING:
    from tfhub_llm.tasks.embedding import TextEmbedder


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """1-based ranks of ``values``; tied values share the average of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    group = np.cumsum(starts_group) - 1
    first = np.flatnonzero(starts_group)
    last = np.r_[first[1:], len(values)] - 1
    ranks = np.empty(len(values))
    ranks[order] = (first + last)[group] / 2 + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation of two equally long sequences (neither constant)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise InvalidArgumentError(f"need two 1-D sequences of the same length >= 2, got shapes {x.shape} and {y.shape}.")
    x, y = x - x.mean(), y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    if denominator == 0:
        raise InvalidArgumentError("a correlation is undefined when one of the sequences is constant.")
    return float((x * y).sum() / denominator)


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's over the average ranks (ties handled as scipy does)."""
    return pearson(average_ranks(x), average_ranks(y))


def _unit(vectors):
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def cosine_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cosine similarities ``[len(first), len(second)]`` between two sets of vectors."""
    return _unit(first) @ _unit(second).T


def _embed_unique(embedder, texts, batch_size):
    """Each distinct text embedded once: (vectors, index of each text's vector)."""
    unique = list(dict.fromkeys(texts))
    position = {text: index for index, text in enumerate(unique)}
    return embedder.embed(unique, batch_size=batch_size), np.array([position[text] for text in texts])


def evaluate_similarity(embedder: TextEmbedder, texts_a: Sequence[str], texts_b: Sequence[str],
                        scores: Sequence[float], batch_size: int = 32) -> dict:
    """Spearman and Pearson (x100) of the cosine of each ``(texts_a[i], texts_b[i])`` against ``scores[i]``."""
    texts_a, texts_b, scores = list(texts_a), list(texts_b), np.asarray(scores, dtype=np.float64)
    if not len(texts_a) == len(texts_b) == len(scores):
        raise InvalidArgumentError(f"texts_a, texts_b and scores need the same length, got "
                                   f"{len(texts_a)}, {len(texts_b)} and {len(scores)}.")
    vectors, index = _embed_unique(embedder, texts_a + texts_b, batch_size)
    first, second = vectors[index[:len(texts_a)]], vectors[index[len(texts_a):]]
    cosines = np.sum(_unit(first) * _unit(second), axis=1)
    return {"spearman": 100 * spearman(cosines, scores), "pearson": 100 * pearson(cosines, scores),
            "pairs": len(scores)}


def evaluate_retrieval(embedder: TextEmbedder, queries: Sequence[str], corpus: Sequence[str],
                       relevant: Sequence[int | Collection[int]],
                       ks: Sequence[int] = (1, 5, 10), batch_size: int = 32) -> dict:
    """Recall@k and MRR (x100) of ranking ``corpus`` by cosine for each query.

    Args:
        queries, corpus: lists of strings.
        relevant: for each query, the index in ``corpus`` of its relevant text, or a collection of indices.
        ks: the cut-offs k of recall@k (the share of a query's relevant texts among its top k, averaged).

    MRR is the mean over queries of 1 / the rank of the first relevant text (ties keep corpus order).
    """
    queries, corpus = list(queries), list(corpus)
    relevant = [{int(r)} if not isinstance(r, Collection) else {int(i) for i in r} for r in relevant]
    if len(relevant) != len(queries) or not queries or not corpus:
        raise InvalidArgumentError(f"need queries, a corpus and one relevant entry per query, got {len(queries)} queries, "
                                   f"{len(corpus)} corpus texts and {len(relevant)} relevant entries.")
    for row, indices in enumerate(relevant):
        if not indices or not all(0 <= index < len(corpus) for index in indices):
            raise InvalidArgumentError(f"relevant[{row}] = {sorted(indices)} must name 1 or more indices in range({len(corpus)}).")
    similarities = cosine_matrix(embedder.embed(queries, batch_size=batch_size),
                                 embedder.embed(corpus, batch_size=batch_size))
    ranking = np.argsort(-similarities, axis=1, kind="stable")
    is_relevant = np.array([np.isin(ranking[row], sorted(indices)) for row, indices in enumerate(relevant)])
    counts = np.array([len(indices) for indices in relevant])
    metrics = {f"recall@{k}": 100 * float(np.mean(is_relevant[:, :k].sum(1) / counts)) for k in ks}
    metrics["mrr"] = 100 * float(np.mean(1.0 / (np.argmax(is_relevant, axis=1) + 1)))
    metrics["queries"] = len(queries)
    return metrics

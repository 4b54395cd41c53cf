"""TextEmbedder: pooling, normalisation, the 256-word-piece default, `.keras` round trip, training on pairs,
the pair losses and the similarity / retrieval metrics; and the MiniLM embedder against sentence-transformers."""

import keras
import numpy as np
import pytest

from tests.harness import MINILM_ENCODER, MINILM_PREPROCESSOR, REFERENCE_DIR, TINY_ENCODER, TINY_PREPROCESSOR, run_task_test
from tfhub_llm.errors import InvalidArgumentError
from tfhub_llm import (
    CosineSimilarityLoss,
    EmbeddingPairModel,
    HubEncoder,
    HubPreprocessor,
    MultipleNegativesRankingLoss,
    TextEmbedder,
    evaluate_retrieval,
    evaluate_similarity,
)
from tfhub_llm.tasks.embedding import mean_pool, pool_embeddings
from tfhub_llm.tasks.embedding_metrics import average_ranks, pearson, spearman

REFERENCE = REFERENCE_DIR / "minilm_outputs.npz"
TEXTS = ["A man is playing a flute.", "", "Héllo 東京 😀", "a much longer sentence " * 40]


@pytest.fixture(scope="module")
def embedder():
    return TextEmbedder(TINY_ENCODER, TINY_PREPROCESSOR)


def test_mean_pool_averages_only_the_unmasked_positions():
    sequence = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[1, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(np.asarray(mean_pool(sequence, mask)), [[1.0, 2.0], [0.0, 0.0]])
    outputs = {"sequence_output": sequence, "pooled_output": -sequence[:, 0]}
    np.testing.assert_allclose(np.asarray(pool_embeddings(outputs, mask, "cls")), sequence[:, 0])
    np.testing.assert_allclose(np.asarray(pool_embeddings(outputs, mask, "pooled")), -sequence[:, 0])
    with pytest.raises(InvalidArgumentError, match="pooling must be one of"):
        pool_embeddings(outputs, mask, "max")


def test_embeddings_are_unit_vectors_in_the_order_given(embedder):
    vectors = embedder.embed(TEXTS, batch_size=3)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32 and embedder.dimension == 32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([embedder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)  # batching (by length) and padding change nothing
    np.testing.assert_allclose(np.asarray(embedder(np.array(TEXTS, dtype=object))), vectors, atol=1e-5)
    assert embedder.embed([]).shape == (0, 32)


def test_default_length_is_256_word_pieces_and_a_given_preprocessor_is_kept(embedder):
    assert embedder.preprocessor.max_seq_length == 256 and embedder.preprocessor.pad_to_longest
    packed = embedder.preprocessor(np.array(TEXTS[3:], dtype=object))  # 161 word pieces: past 128, under 256
    assert int(np.asarray(packed["input_mask"]).sum()) == 162
    short = TextEmbedder(embedder.encoder, embedder.preprocessor, seq_length=8)
    assert short.preprocessor is embedder.preprocessor
    cut = TextEmbedder(embedder.encoder, HubPreprocessor(TINY_PREPROCESSOR, seq_length=8))
    assert not np.allclose(cut.embed(TEXTS[3:]), embedder.embed(TEXTS[3:]), atol=1e-3)


def test_pooling_choices_and_unnormalized_vectors(embedder):
    packed = embedder.preprocessor(np.array(TEXTS[:2], dtype=object))
    outputs = embedder.encoder(packed)
    for pooling in ("cls", "pooled"):
        model = TextEmbedder(embedder.encoder, embedder.preprocessor, pooling=pooling, normalize=False)
        want = np.asarray(pool_embeddings(outputs, packed["input_mask"], pooling))
        np.testing.assert_allclose(model.embed(TEXTS[:2]), want, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="pooling must be one of"):
        TextEmbedder(embedder.encoder, embedder.preprocessor, pooling="max")


@pytest.mark.slow  # the shared task check: predict, a fit step, config, .keras and serving-export round trips
def test_keras_file_round_trip(embedder, tmp_path):
    texts = np.array(TEXTS, dtype=object)
    targets = np.random.default_rng(0).normal(size=(len(TEXTS), embedder.dimension)).astype("float32")
    loaded = run_task_test(embedder, texts, (texts, targets), tmp_path, {"text": TEXTS},
                           {"embedding": embedder.predict(texts, verbose=0)}, compile_kwargs={"loss": "mean_squared_error"})
    assert isinstance(loaded, TextEmbedder) and loaded.pooling == "mean" and loaded.normalize
    np.testing.assert_allclose(loaded.embed(TEXTS), embedder.embed(TEXTS), atol=1e-6)


def test_cosine_similarity_loss_is_the_squared_error_of_the_cosine():
    pairs = np.array([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 2.0]]], np.float32)  # cosines 1 and 0
    loss = CosineSimilarityLoss()(np.array([0.5, 0.5]), pairs)
    np.testing.assert_allclose(float(loss), (0.25 + 0.25) / 2, atol=1e-6)


def test_multiple_negatives_ranking_loss_with_in_batch_negatives_and_shared_positives():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    pairs = np.array([[a, a], [b, b], [a, 3 * a]], np.float32)
    logits = 20.0 * np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])

    def cross_entropy(rows):
        return np.mean([np.log(np.exp(row).sum()) - row[i] for i, row in enumerate(rows)])

    distinct = MultipleNegativesRankingLoss()(np.array([0, 1, 2]), pairs)
    np.testing.assert_allclose(float(distinct), cross_entropy(logits), rtol=1e-5)
    # Pairs 0 and 2 share their second text's id: neither is the other's negative.
    shared = MultipleNegativesRankingLoss()(np.array([7, 1, 7]), pairs)
    masked = logits + np.array([[0, 0, -1e9], [0, 0, 0], [-1e9, 0, 0]])
    np.testing.assert_allclose(float(shared), cross_entropy(masked), rtol=1e-5, atol=1e-6)
    assert MultipleNegativesRankingLoss.from_config(MultipleNegativesRankingLoss(scale=5.0).get_config()).scale == 5.0


def test_fit_on_pairs_trains_the_embedders_weights(tmp_path):
    encoder = HubEncoder(TINY_ENCODER, trainable=True, micro_batches=1)  # one encoder call to trace, not five
    model = TextEmbedder(encoder, TINY_PREPROCESSOR, seq_length=16)
    pairs = EmbeddingPairModel(model)
    pairs.compile(loss=CosineSimilarityLoss(), learning_rate=1e-3)
    before = model.embed(TEXTS[:2])
    x = {"text": np.array(["a cat", "a dog", "the sun"] * 2, dtype=object),
         "text_b": np.array(["a kitten", "the moon", "a star"] * 2, dtype=object)}
    history = pairs.fit(x, np.array([1.0, 0.0, 0.5] * 2), batch_size=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert not np.allclose(model.embed(TEXTS[:2]), before, atol=1e-4)
    pairs.save(tmp_path / "pairs.keras")
    loaded = keras.models.load_model(tmp_path / "pairs.keras")
    np.testing.assert_allclose(loaded.embedder.embed(TEXTS[:2]), model.embed(TEXTS[:2]), atol=1e-6)


def test_average_ranks_and_correlations_by_hand():
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5, 20]), [2, 4, 4, 1, 4])
    # x ranks [1, 2.5, 2.5, 4], y ranks [1, 2, 3, 4]: deviations [-1.5, 0, 0, 1.5] and [-1.5, -.5, .5, 1.5]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(4.5 / np.sqrt(4.5 * 5))
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(5 / np.sqrt(2 * 12.666666666666666))
    assert spearman([3, 1, 2], [30, 10, 20]) == pytest.approx(1.0)
    with pytest.raises(InvalidArgumentError, match="constant"):
        spearman([1, 1, 1], [1, 2, 3])
    with pytest.raises(InvalidArgumentError, match="same length"):
        pearson([1, 2], [1, 2, 3])


class _LookupEmbedder:
    """Fixed vectors per text, for metrics computed by hand."""

    def __init__(self, vectors):
        self.vectors = vectors
        self.calls = []

    def embed(self, texts, batch_size=32):
        self.calls.append(list(texts))
        return np.array([self.vectors[text] for text in texts], dtype=np.float32)


def test_evaluate_similarity_by_hand():
    embedder = _LookupEmbedder({"a": [1, 0], "b": [1, 1], "c": [0, 1], "d": [-1, 0]})
    # cosines: (a, a) 1, (a, b) 0.707, (a, c) 0, (a, d) -1
    result = evaluate_similarity(embedder, ["a"] * 4, ["a", "b", "c", "d"], [5, 3, 4, 0])
    assert result["pairs"] == 4 and embedder.calls == [["a", "b", "c", "d"]]  # each text embedded once
    assert result["spearman"] == pytest.approx(100 * spearman([1, 0.7071, 0, -1], [5, 3, 4, 0]))
    assert result["spearman"] == pytest.approx(80.0)
    assert result["pearson"] == pytest.approx(100 * pearson([1, np.sqrt(0.5), 0, -1], [5, 3, 4, 0]))
    with pytest.raises(InvalidArgumentError, match="same length"):
        evaluate_similarity(embedder, ["a"], ["a", "b"], [1, 2])


def test_evaluate_retrieval_by_hand():
    embedder = _LookupEmbedder({"q1": [1, 0], "q2": [0, 1], "x": [1, 0.1], "y": [0.2, 1], "z": [1, 0.5]})
    # q1 ranks x, z, y; q2 ranks y, z, x.
    result = evaluate_retrieval(embedder, ["q1", "q2"], ["x", "y", "z"], [2, {1, 0}], ks=(1, 2))
    assert result["recall@1"] == pytest.approx(100 * (0 + 0.5) / 2)
    assert result["recall@2"] == pytest.approx(100 * (1 + 0.5) / 2)
    assert result["mrr"] == pytest.approx(100 * (1 / 2 + 1) / 2) and result["queries"] == 2
    with pytest.raises(InvalidArgumentError, match=r"relevant\[1\] = \[3\] must name 1 or more indices in range\(3\)"):
        evaluate_retrieval(embedder, ["q1", "q2"], ["x", "y", "z"], [0, 3])
    with pytest.raises(InvalidArgumentError, match="one relevant entry per query"):
        evaluate_retrieval(embedder, ["q1", "q2"], ["x"], [0])


@pytest.mark.slow
def test_minilm_embedder_equals_sentence_transformers():
    reference = np.load(REFERENCE)
    assert int(reference["embedding_max_seq_length"]) == 256
    assert reference["embedding_word_pieces"].max() > 256 and (reference["embedding_word_pieces"] > 128).sum() >= 2
    embedder = TextEmbedder(MINILM_ENCODER, MINILM_PREPROCESSOR)
    vectors = embedder.embed(list(reference["embedding_sentences"]), batch_size=4)
    cosine = (vectors * reference["embeddings"]).sum(1)
    assert cosine.min() >= 0.9999, cosine

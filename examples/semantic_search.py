"""Semantic search over SQuAD paragraphs with ``TextEmbedder``: questions find their paragraph by nearest neighbours.

The held-out articles' paragraphs are the corpus; each of their questions is embedded and answered
with the paragraphs of highest cosine similarity, scored against the paragraph it was written for
(recall@1 / @5, MRR). The embedder is then fine-tuned with the multiple-negatives ranking loss on
question → paragraph pairs of the other articles (no paragraph or question is shared) and scored again.

    .venv/bin/python examples/semantic_search.py                     # MiniLM, about 20 minutes on 2 busy cores
    .venv/bin/python examples/semantic_search.py --max-examples 4000 --epochs 2

Writes ``OUT/semantic_search/metrics.json``.
"""

import time

import common
import keras
import numpy as np

from tfhub_llm import EmbeddingPairModel, MultipleNegativesRankingLoss, TextEmbedder, evaluate_retrieval
from tfhub_llm.readers.squad import load_squad_json

KS = (1, 5)


def questions_and_paragraphs(articles):
    """(questions, their paragraph's index, the distinct paragraphs) of ``articles``."""
    questions, gold, paragraphs = [], [], []
    for article in articles:
        for paragraph in article["paragraphs"]:
            paragraphs.append(paragraph["context"])
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                gold.append(len(paragraphs) - 1)
    return questions, np.array(gold), paragraphs


def sample(count, limit, rng):
    """Up to ``limit`` of ``range(count)``, drawn by ``rng``, in order."""
    return np.sort(rng.choice(count, min(limit, count), replace=False))


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--squad", default=str(common.DATA / "squad" / "train-v2.0-first10articles.json"),
                        help="SQuAD v1.1 or v2.0 JSON")
    parser.add_argument("--held-out-articles", type=int, default=3, help="articles whose paragraphs are searched")
    parser.add_argument("--eval-questions", type=int, default=500, help="held-out questions to answer")
    common.add_training_flags(parser, max_examples=1500, epochs=1, batch_size=32, seq_length=256,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    articles = load_squad_json(args.squad)["data"]
    if not 0 < args.held_out_articles < len(articles):
        raise SystemExit(f"--held-out-articles must be between 1 and {len(articles) - 1}")
    train_questions, train_gold, train_paragraphs = questions_and_paragraphs(articles[:-args.held_out_articles])
    questions, gold, corpus = questions_and_paragraphs(articles[-args.held_out_articles:])
    chosen = sample(len(questions), args.eval_questions, rng)
    questions, gold = [questions[i] for i in chosen], gold[chosen]
    pairs = sample(len(train_questions), args.max_examples, rng)
    print(f"search: {len(questions)} questions over the {len(corpus)} paragraphs of {args.held_out_articles} "
          f"held-out articles; fine-tune on {len(pairs)} question → paragraph pairs of the other "
          f"{len(articles) - args.held_out_articles}")

    embedder = TextEmbedder(args.encoder, args.preprocessor, seq_length=args.seq_length)
    before = evaluate_retrieval(embedder, questions, corpus, gold, ks=KS, batch_size=args.batch_size)
    print("before fine-tuning: " + ", ".join(f"{key} {before[key]:.1f}" for key in (*map("recall@{}".format, KS), "mrr")))

    model = EmbeddingPairModel(embedder)
    steps = args.epochs * -(-len(pairs) // args.batch_size)
    model.compile(loss=MultipleNegativesRankingLoss(), learning_rate=args.learning_rate, train_steps=steps)
    x = {"text": np.array([train_questions[i] for i in pairs], dtype=object),
         "text_b": np.array([train_paragraphs[train_gold[i]] for i in pairs], dtype=object)}
    started = time.monotonic()
    history = model.fit(x, train_gold[pairs], batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    train_seconds = time.monotonic() - started

    after = evaluate_retrieval(embedder, questions, corpus, gold, ks=KS, batch_size=args.batch_size)
    print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s")
    print("after fine-tuning:  " + ", ".join(f"{key} {after[key]:.1f}" for key in (*map("recall@{}".format, KS), "mrr")))
    best = int(np.argmax(embedder.embed([questions[0]]) @ embedder.embed(corpus).T))
    print(f"search: {questions[0]!r} → paragraph {best} ({'the gold one' if best == gold[0] else 'not the gold one'}): "
          f"{corpus[best][:100]!r}...")

    path = common.write_json(f"{args.out}/semantic_search/metrics.json", {
        "encoder": args.encoder, "eval_questions": len(questions), "corpus_paragraphs": len(corpus),
        "train_pairs": len(pairs), "epochs": args.epochs, "seq_length": args.seq_length,
        "before": before, "after": after, "history": history.history, "train_seconds": train_seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

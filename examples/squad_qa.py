"""Extractive question answering on SQuAD v2.0 with ``SpanQuestionAnswerer``, scored like the official script.

The model reads ``[CLS] question [SEP] context window [SEP]`` and predicts where the answer starts
and ends; long contexts are covered by overlapping windows, and every answer comes back as an exact
substring of its context (or "" when the model judges the question unanswerable). The script trains
on questions about the first articles of the bundled SQuAD v2.0 slice, answers questions about the
last articles (which it never saw), and compares exact match and F1 with answering the first sentence.

    .venv/bin/python examples/squad_qa.py                      # MiniLM, a few minutes on 2 cores
    .venv/bin/python examples/squad_qa.py --max-examples 4000 --epochs 2 --seq-length 384

Writes ``OUT/squad_qa/metrics.json``.
"""

import json
import time

import common
import keras

from tfhub_llm.readers.squad import read_squad
from tfhub_llm.tasks.question_answering import SpanQuestionAnswerer
from tfhub_llm.tasks.squad import first_sentence_baseline, squad_evaluate


def split_by_article(dataset, held_out_articles):
    """(training dataset, evaluation dataset): the last ``held_out_articles`` articles are held out."""
    if not 0 < held_out_articles < len(dataset["data"]):
        raise SystemExit(f"--held-out-articles must be between 1 and {len(dataset['data']) - 1}")
    return ({**dataset, "data": dataset["data"][:-held_out_articles]},
            {**dataset, "data": dataset["data"][-held_out_articles:]})


def keep_questions(dataset, question_ids):
    """The dataset with only the questions in ``question_ids`` (what ``squad_evaluate`` then scores)."""
    articles = []
    for article in dataset["data"]:
        paragraphs = [{**paragraph, "qas": [qa for qa in paragraph["qas"] if qa["id"] in question_ids]}
                      for paragraph in article["paragraphs"]]
        articles.append({**article, "paragraphs": [p for p in paragraphs if p["qas"]]})
    return {**dataset, "data": [article for article in articles if article["paragraphs"]]}


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--squad", default=str(common.DATA / "squad" / "train-v2.0-first10articles.json"),
                        help="SQuAD v1.1 or v2.0 JSON")
    parser.add_argument("--held-out-articles", type=int, default=2, help="articles kept for evaluation")
    parser.add_argument("--eval-examples", type=int, default=300, help="held-out questions to answer")
    parser.add_argument("--doc-stride", type=int, default=128, help="tokens between window starts")
    parser.add_argument("--max-query-length", type=int, default=64, help="question tokens kept")
    common.add_training_flags(parser, max_examples=1000, epochs=2, batch_size=16, seq_length=256,
                              learning_rate=1e-4)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    with open(args.squad, encoding="utf-8") as file:
        dataset = json.load(file)
    train_data, eval_data = split_by_article(dataset, args.held_out_articles)
    train = read_squad(train_data)[:args.max_examples]
    evaluation = read_squad(eval_data)[:args.eval_examples]
    eval_data = keep_questions(eval_data, {example.qas_id for example in evaluation})
    version_2 = any(example.is_impossible for example in read_squad(dataset))
    print(f"data: {len(train)} training questions, {len(evaluation)} questions on "
          f"{args.held_out_articles} held-out articles, from {args.squad} (SQuAD {'v2.0' if version_2 else 'v1.1'})")

    model = SpanQuestionAnswerer(args.encoder, args.preprocessor, max_seq_length=args.seq_length,
                                 doc_stride=args.doc_stride, max_query_length=args.max_query_length,
                                 version_2_with_negative=version_2)
    features = model.make_features(train)
    train_steps = args.epochs * -(-len(features) // args.batch_size)
    model.compile(learning_rate=args.learning_rate, train_steps=train_steps)
    print(f"features: {len(features)} windows of {args.seq_length} tokens")

    started = time.monotonic()
    history = model.fit(model.features_dataset(features, args.batch_size, seed=args.seed),
                        epochs=args.epochs, verbose=2)
    train_seconds = time.monotonic() - started

    answers = model.predict_examples(evaluation, batch_size=args.batch_size)
    predictions = {example.qas_id: answer["answer"] for example, answer in zip(evaluation, answers)}
    scores = squad_evaluate(eval_data, predictions)
    baseline = squad_evaluate(eval_data, first_sentence_baseline(evaluation))
    print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s")
    print(f"held-out: exact match {scores['exact_match']:.1f}, F1 {scores['f1']:.1f} "
          f"(first-sentence baseline: {baseline['exact_match']:.1f}, {baseline['f1']:.1f})")
    example, answer = evaluation[0], answers[0]
    print(f"predict: {example.question!r} → {answer['answer']!r} "
          f"(context[{answer['start']}:{answer['end']}], score {answer['score']:.2f})")

    path = common.write_json(f"{args.out}/squad_qa/metrics.json", {
        "encoder": args.encoder, "train_questions": len(train), "train_windows": len(features),
        "eval_questions": len(evaluation), "epochs": args.epochs, "seq_length": args.seq_length,
        "model": scores, "first_sentence_baseline": baseline, "history": history.history,
        "train_seconds": train_seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

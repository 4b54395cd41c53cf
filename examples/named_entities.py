"""Named entities with ``TokenClassifier``: fine-tune on CoNLL tags, score held-out documents, find entities in raw text.

The model tags each word (its first word piece carries the tag) and reads entities from the tags
as seqeval / conlleval do. The script holds out whole documents (``-DOCSTART-`` boundaries) of the
CoNLL file, trains on the others, scores the held-out sentences with entity-level F1 next to the
capitalised-words baseline, and finally finds entities in raw sentences, with character offsets
into them. The embedded MiniLM is uncased, which costs named entities some accuracy.

    .venv/bin/python examples/named_entities.py --train PATH/TO/conll2003/train.txt    # MiniLM, a few minutes
    .venv/bin/python examples/named_entities.py --train PATH/TO/conll2003/train.txt --max-examples 4000 --epochs 2

Writes ``OUT/named_entities/metrics.json``.
"""

import time

import common
import keras

from tfhub_llm.readers.conll import read_tagged_sentences
from tfhub_llm.tasks.entities import capitalised_baseline, evaluate_entities, most_frequent_type
from tfhub_llm.tasks.token_classification import TokenClassifier
from tfhub_llm.training.splits import split_by_document

RAW_TEXTS = ["Angela Merkel met Emmanuel Macron in Paris on Tuesday.",
             "Shares of Deutsche Bank fell 3% in Frankfurt after the ECB's decision."]


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--train", required=True,
                        help="CoNLL file (tag in the last column) or JSONL {tokens, tags}; CoNLL-2003 is not "
                             "redistributed, so give its path")
    parser.add_argument("--held-out-fraction", type=float, default=0.1, help="documents kept for evaluation")
    parser.add_argument("--eval-examples", type=int, default=500, help="held-out sentences to score")
    parser.add_argument("--doc-stride", type=int, default=64, help="word pieces between window starts")
    common.add_training_flags(parser, max_examples=2000, epochs=1, batch_size=32, seq_length=128,
                              learning_rate=5e-5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    sentences = read_tagged_sentences(args.train)
    train, held_out = split_by_document(sentences, args.held_out_fraction, args.seed)
    train = train.subset(range(min(args.max_examples, len(train))))
    held_out = held_out.subset(range(min(args.eval_examples, len(held_out))))
    print(f"data: {len(train)} training sentences, {len(held_out)} sentences of held-out documents, from {args.train}")

    model = TokenClassifier(args.encoder, args.preprocessor, sentences.label_names(),
                            max_seq_length=args.seq_length, doc_stride=args.doc_stride)
    features = model.make_features(train)
    model.compile(learning_rate=args.learning_rate, train_steps=args.epochs * -(-len(features) // args.batch_size))
    started = time.monotonic()
    history = model.fit(model.features_dataset(features, args.batch_size, seed=args.seed), epochs=args.epochs,
                        shuffle=False, verbose=2)
    train_seconds = time.monotonic() - started

    scores = evaluate_entities(held_out.tags, model.predict_tags(held_out.tokens, batch_size=args.batch_size))
    baseline_type = most_frequent_type(train.tags)
    baseline = evaluate_entities(held_out.tags, capitalised_baseline(held_out.tokens, baseline_type))
    print(f"fit: {args.epochs} epoch(s) in {train_seconds:.0f} s")
    print(f"held-out entity F1 {scores['f1']:.1f} (precision {scores['precision']:.1f}, recall "
          f"{scores['recall']:.1f}); capitalised words as {baseline_type}: {baseline['f1']:.1f}")
    entities = model.predict_entities(RAW_TEXTS, batch_size=args.batch_size)
    for text, found in zip(RAW_TEXTS, entities):
        print(f"predict: {text!r} → " + ", ".join(
            f"{entity['label']} {entity['text']!r} [{entity['start']}:{entity['end']}]" for entity in found))

    path = common.write_json(f"{args.out}/named_entities/metrics.json", {
        "encoder": args.encoder, "train_sentences": len(train), "train_windows": len(features),
        "eval_sentences": len(held_out), "epochs": args.epochs, "seq_length": args.seq_length,
        "model": scores, "capitalised_baseline": {**baseline, "type": baseline_type},
        "predictions": [{"text": text, "entities": found} for text, found in zip(RAW_TEXTS, entities)],
        "history": history.history, "train_seconds": train_seconds})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

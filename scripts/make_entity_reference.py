"""Dev-only: writes tests/reference/entity_metric_cases.json, seqeval's scores of tag sequences.

``tests/tasks/test_entities.py`` checks ``tfhub_llm.evaluate_entities`` against this file, so
``make test`` needs no seqeval. Run it in an environment of its own, e.g.::

    python3 -m venv ~/venvs/seqeval && ~/venvs/seqeval/bin/pip install seqeval
    ~/venvs/seqeval/bin/python scripts/make_entity_reference.py

The cases: hand-picked ones (IOB1, IOB2, IOBES, invalid sequences such as I- after O, E- without
B-, type changes inside an entity, empty sentences, no entities at all) and seeded random
sequences over all of those tags. For each, seqeval's default (conlleval) mode gives the micro
precision / recall / F1 and ``classification_report``'s per-type scores, all x100.
"""

import argparse
import importlib.metadata
import json
import pathlib
import random
import warnings

from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "reference" / "entity_metric_cases.json"
RANDOM_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "I-MISC", "B-MISC"]

HAND_PICKED = [
    # (name, gold, predicted)
    ("iob2 exact", [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    ("iob2 boundary error", [["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]]),
    ("i after o starts an entity", [["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]]),
    ("iob1 adjacent entities", [["I-LOC", "I-LOC", "B-LOC", "O"]], [["I-LOC", "I-LOC", "I-LOC", "O"]]),
    ("type change inside an entity", [["B-PER", "I-LOC", "I-LOC"]], [["B-PER", "I-PER", "I-LOC"]]),
    ("iobes", [["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"]], [["S-PER", "B-LOC", "E-LOC", "S-LOC", "O"]]),
    ("e without b", [["O", "E-ORG", "O"], ["E-ORG", "E-ORG"]], [["O", "S-ORG", "O"], ["B-ORG", "E-ORG"]]),
    ("entity at both sentence ends", [["B-ORG"], ["I-ORG", "O", "B-PER"]], [["B-ORG"], ["B-ORG", "O", "I-PER"]]),
    ("no predicted entities", [["B-PER", "O"]], [["O", "O"]]),
    ("no gold entities", [["O", "O"]], [["B-PER", "O"]]),
    ("no entities anywhere", [["O"], []], [["O"], []]),
    ("b after i of the same type", [["B-MISC", "I-MISC", "B-MISC"]], [["B-MISC", "B-MISC", "B-MISC"]]),
]


def random_cases(count, seed):
    rng = random.Random(seed)
    cases = []
    for index in range(count):
        lengths = [rng.randint(0, 9) for _ in range(rng.randint(1, 5))]
        gold = [[rng.choice(RANDOM_TAGS) for _ in range(length)] for length in lengths]
        predicted = [[tag if rng.random() < 0.6 else rng.choice(RANDOM_TAGS) for tag in tags] for tags in gold]
        cases.append((f"random {index}", gold, predicted))
    return cases


def seqeval_scores(gold, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined ratios (set to 0) and "not a NE tag" warnings
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
        return {
            "precision": 100 * precision_score(gold, predicted),
            "recall": 100 * recall_score(gold, predicted),
            "f1": 100 * f1_score(gold, predicted),
            "per_type": {
                name: {"precision": 100 * row["precision"], "recall": 100 * row["recall"],
                       "f1": 100 * row["f1-score"], "support": int(row["support"])}
                for name, row in report.items() if not name.endswith(" avg")
            },
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random-cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    cases = [{"name": name, "gold": gold, "predicted": predicted, "seqeval": seqeval_scores(gold, predicted)}
             for name, gold, predicted in HAND_PICKED + random_cases(args.random_cases, args.seed)]
    document = {"seqeval_version": importlib.metadata.version("seqeval"), "mode": "default (conlleval)",
                "cases": cases}
    pathlib.Path(args.out).write_text(json.dumps(document, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {len(cases)} cases to {args.out}")


if __name__ == "__main__":
    main()

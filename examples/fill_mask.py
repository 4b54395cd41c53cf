"""Fill in [MASK] tokens with an encoder's masked-language-model head (its ``mlm`` sub-object).

TF-Hub BERT encoders exported with their pretraining head carry an ``mlm`` sub-object that also
takes ``masked_lm_positions`` and returns vocabulary logits there; ``HubEncoder.mlm_logits`` calls it.
The bundled encoder with such a head is the tiny *random* BERT, so its guesses are noise: the
script shows the mechanics (tokenize around [MASK], pack, predict the top-k word pieces), and a
pretrained encoder with an ``mlm`` head gives meaningful words through the same code.

    .venv/bin/python examples/fill_mask.py
    .venv/bin/python examples/fill_mask.py --text "paris is the [MASK] of france." --top-k 10 --encoder DIR --preprocessor DIR

Writes ``OUT/fill_mask/predictions.json``.
"""

import common
import numpy as np
import tensorflow as tf

from tfhub_llm.layers.hub_layers import HubEncoder, HubPreprocessor

MASK = "[MASK]"


def masked_inputs(preprocessor, text, seq_length):
    """The encoder inputs of ``text`` with each literal "[MASK]" as the mask token, and the mask positions."""
    pieces = text.split(MASK)
    if len(pieces) < 2:
        raise SystemExit(f"--text must contain {MASK}, got {text!r}")
    word_pieces = [preprocessor.tokenize([piece]).merge_dims(1, -1)[0].numpy() for piece in pieces]
    ids = np.concatenate([np.append(piece, preprocessor.mask_id) for piece in word_pieces[:-1]]
                         + [word_pieces[-1]]).astype(np.int32)
    inputs = preprocessor.bert_pack_inputs([tf.ragged.constant([ids], dtype=tf.int32)], seq_length=seq_length)
    positions = np.flatnonzero(inputs["input_word_ids"][0].numpy() == preprocessor.mask_id)
    if len(positions) != len(pieces) - 1:
        raise SystemExit(f"--seq-length {seq_length} cuts off a {MASK} in {text!r}; pass a larger one")
    return inputs, positions[None, :].astype(np.int32)


def main(argv=None):
    parser = common.parser(__doc__.splitlines()[0], model=common.TINY)
    parser.add_argument("--text", default="the movie was [MASK] and the actors were [MASK].",
                        help=f"text with one or more {MASK}")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seq-length", type=int, default=128, help="maximum packed length in tokens")
    args = parser.parse_args(argv)

    encoder = HubEncoder(args.encoder)
    if not encoder.has_mlm:
        raise SystemExit(f"{args.encoder} has no 'mlm' sub-object; pass an encoder exported with its MLM head")
    preprocessor = HubPreprocessor(args.preprocessor)
    with open(encoder.vocab_file, encoding="utf-8") as file:
        vocabulary = [line.rstrip("\n") for line in file]

    inputs, positions = masked_inputs(preprocessor, args.text, args.seq_length)
    logits = encoder.mlm_logits(inputs, positions)[0].numpy()  # [masks, vocab]
    probabilities = tf.nn.softmax(logits).numpy()
    masks = []
    print(f"text: {args.text!r} ({positions.shape[1]} masks; encoder {args.encoder})")
    for mask_index, row in enumerate(probabilities):
        best = np.argsort(-row)[:args.top_k]
        candidates = [{"token": vocabulary[i], "probability": float(row[i])} for i in best]
        masks.append({"position": int(positions[0, mask_index]), "candidates": candidates})
        print(f"mask {mask_index + 1}: " + ", ".join(f"{c['token']} ({c['probability']:.2e})" for c in candidates))

    path = common.write_json(f"{args.out}/fill_mask/predictions.json",
                             {"encoder": args.encoder, "text": args.text, "masks": masks})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

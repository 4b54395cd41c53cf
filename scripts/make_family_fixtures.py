"""Build the tiny TF-Hub encoder-family fixtures of tests/fixtures/model_garden with TF Model Garden's exporter.

Each fixture is an ``encoder/`` + ``preprocessor/`` pair written by Model Garden's own
``official/nlp/tools/export_tfhub_lib.py`` (``export_model`` / ``export_preprocessing``), the tool
that made the models on tfhub.dev and Kaggle Models, with random weights (seeded) and tiny sizes,
plus a ``config.json`` saying how it was made. The vocabularies are made here from the inputs:

* uncased WordPiece: the special tokens, every piece of ``--wordpiece-vocab`` that tokenizing the
  ``--text`` files uses, and the vocab's single characters (so unseen words still tokenize);
* cased WordPiece: learned from the ``--text`` files with TF Text's ``bert_vocab_from_dataset``;
* SentencePiece: a unigram model trained on the lower-cased ``--text`` lines, with ALBERT's
  ``<pad>`` / ``<unk>`` / ``[CLS]`` / ``[SEP]`` / ``[MASK]`` conventions.

It needs tf-models-official 2.20 (which pins TensorFlow 2.20), so it runs in a venv of its own,
never in the package's::

    python -m venv VENV && VENV/bin/pip install "tf-models-official==2.20.*" "tensorflow-text==2.20.*" sentencepiece
    VENV/bin/python scripts/make_family_fixtures.py tests/fixtures/model_garden \\
        --wordpiece-vocab savedmodels/minilm_l6_h384_uncased/preprocessor/assets/vocab.txt --text README.md
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import io
import json
import os
import pathlib
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import sentencepiece  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text as text  # noqa: E402
import tf_keras  # noqa: E402
from official.modeling import tf_utils  # noqa: E402
from official.nlp.configs import encoders  # noqa: E402
from official.nlp.modeling import models  # noqa: E402
from official.nlp.tools import export_tfhub_lib  # noqa: E402
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset  # noqa: E402

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SEED = 20
WORDPIECE_SIZE = 1200
SENTENCEPIECE_SIZE = 400


@dataclasses.dataclass(frozen=True)
class Fixture:
    """One encoder + preprocessor pair: its encoder config, tokenizer and preprocessor settings."""

    name: str
    family: str
    encoder: dict
    tokenizer: str  # "wordpiece_uncased", "wordpiece_cased" or "sentencepiece"
    default_seq_length: int
    with_mlm: bool
    tokenize_with_offsets: bool

    @property
    def do_lower_case(self):
        return self.tokenizer != "wordpiece_cased"


TINY = {"num_layers": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64}
FIXTURES = [
    Fixture("bert_cased_seq96_mlm", "bert", dict(TINY), "wordpiece_cased", 96, True, True),
    Fixture("bert_factorised_seq128", "bert", {**TINY, "embedding_size": 16}, "wordpiece_uncased", 128, False, True),
    Fixture("bert_norm_first_seq48_mlm", "bert", {**TINY, "norm_first": True}, "wordpiece_uncased", 48, True, False),
    Fixture("albert_sp_seq32_mlm", "albert", {**TINY, "embedding_width": 16}, "sentencepiece", 32, True, False),
    Fixture("mobilebert_seq64", "mobilebert", {
        "num_blocks": 2, "hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 32,
        "word_embed_size": 16, "intra_bottleneck_size": 16, "key_query_shared_bottleneck": True,
        "num_feedforward_networks": 2, "normalization_type": "no_norm", "max_sequence_length": 128,
    }, "wordpiece_uncased", 64, False, True),
]


def read_lines(paths):
    """Non-blank lines of the training text files."""
    lines = []
    for path in paths:
        lines += [line.strip() for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise SystemExit(f"the --text files {paths} hold no text to build vocabularies from")
    return lines


def uncased_vocab_subset(full_vocab_path, lines):
    """The special tokens, the pieces the text uses, and single characters, in the full vocab's order."""
    full = [token for token in pathlib.Path(full_vocab_path).read_text(encoding="utf-8").split("\n") if token]
    tokenizer = text.BertTokenizer(str(full_vocab_path), lower_case=True, token_out_type=tf.int64)
    used = collections.Counter(tokenizer.tokenize(tf.constant(lines)).flat_values.numpy().tolist())
    singles = {i for i, token in enumerate(full) if len(token.removeprefix("##")) == 1 and token.isascii()}
    keep = {full.index(token) for token in BERT_SPECIAL} | singles
    for index, _ in used.most_common():
        if len(keep) >= WORDPIECE_SIZE:
            break
        keep.add(index)
    return [full[i] for i in sorted(keep)]


def cased_vocab(lines):
    dataset = tf.data.Dataset.from_tensor_slices(lines).batch(256)
    return bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset, vocab_size=WORDPIECE_SIZE, reserved_tokens=BERT_SPECIAL,
        bert_tokenizer_params={"lower_case": False})


def sentencepiece_model(lines, path):
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([line.lower() for line in lines]), model_writer=model,
        vocab_size=SENTENCEPIECE_SIZE, hard_vocab_limit=False, model_type="unigram", character_coverage=1.0,
        pad_id=0, unk_id=1, bos_id=-1, eos_id=-1, control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        num_threads=1, minloglevel=2)
    path.write_bytes(model.getvalue())


def encoder_config(fixture, vocab_size):
    if fixture.family == "mobilebert":
        settings = {**fixture.encoder, "word_vocab_size": vocab_size}
    else:
        settings = {**fixture.encoder, "vocab_size": vocab_size, "max_position_embeddings": 128}
    return encoders.EncoderConfig(type=fixture.family, **{fixture.family: settings})


def random_checkpoint(config, with_mlm, folder):
    """A checkpoint of a freshly initialised encoder (and MLM head) in the layout export_model restores."""
    encoder = encoders.build_encoder(config)
    if with_mlm:
        pretrainer = models.BertPretrainerV2(
            encoder_network=encoder, mlm_activation=tf_utils.get_activation(config.get().hidden_activation))
        pretrainer(pretrainer.inputs)
        checkpoint = tf.train.Checkpoint(**pretrainer.checkpoint_items)
    else:
        checkpoint = tf.train.Checkpoint(encoder=encoder)
    return checkpoint.save(os.path.join(folder, "ckpt"))


def build(fixture, out_dir, sources, work):
    tf_keras.utils.set_random_seed(SEED)
    tokenizer_files = {}
    if fixture.tokenizer == "sentencepiece":
        sp_path = work / "sp.model"
        sentencepiece_model(sources["lines"], sp_path)
        tokenizer_files["sp_model_file"] = str(sp_path)
        vocab_size = sentencepiece.SentencePieceProcessor(model_file=str(sp_path)).vocab_size()
    else:
        tokens = sources[fixture.tokenizer]
        vocab_path = work / "vocab.txt"
        vocab_path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
        tokenizer_files["vocab_file"] = str(vocab_path)
        vocab_size = len(tokens)
    config = encoder_config(fixture, vocab_size)
    checkpoint = random_checkpoint(config, fixture.with_mlm, str(work / "checkpoint"))
    target = out_dir / fixture.name
    shutil.rmtree(target, ignore_errors=True)
    export_tfhub_lib.export_model(
        str(target / "encoder"), encoder_config=config, model_checkpoint_path=checkpoint,
        with_mlm=fixture.with_mlm, do_lower_case=fixture.do_lower_case, **tokenizer_files)
    export_tfhub_lib.export_preprocessing(
        str(target / "preprocessor"), do_lower_case=fixture.do_lower_case,
        tokenize_with_offsets=fixture.tokenize_with_offsets, default_seq_length=fixture.default_seq_length,
        experimental_disable_assert=True, **tokenizer_files)
    described = {
        "family": fixture.family, "encoder": fixture.encoder, "with_mlm": fixture.with_mlm,
        "tokenizer": fixture.tokenizer, "do_lower_case": fixture.do_lower_case,
        "tokenize_with_offsets": fixture.tokenize_with_offsets,
        "default_seq_length": fixture.default_seq_length, "vocab_size": vocab_size, "seed": SEED,
        "made_by": "scripts/make_family_fixtures.py", "tensorflow": tf.__version__,
        "tensorflow_text": text.__version__, "tf_models_official": "2.20",
        "inputs_sha256": sources["inputs_sha256"],
    }
    (target / "config.json").write_text(json.dumps(described, indent=1) + "\n")
    return target


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=pathlib.Path, help="folder to write the fixtures into")
    parser.add_argument("--wordpiece-vocab", required=True, type=pathlib.Path,
                        help="a full uncased BERT vocab.txt to take the uncased subset from")
    parser.add_argument("--text", required=True, nargs="+", help="text files to learn vocabularies from")
    parser.add_argument("--only", nargs="*", default=None, help="build only these fixtures")
    args = parser.parse_args(argv)
    lines = read_lines(args.text)
    sources = {
        "lines": lines,
        "wordpiece_uncased": uncased_vocab_subset(args.wordpiece_vocab, lines),
        "wordpiece_cased": cased_vocab(lines),
        "inputs_sha256": {str(p): sha256(p) for p in [args.wordpiece_vocab, *args.text]},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for fixture in FIXTURES:
        if args.only is not None and fixture.name not in args.only:
            continue
        with tempfile.TemporaryDirectory() as work:
            target = build(fixture, args.out_dir, sources, pathlib.Path(work))
        for part in ("encoder", "preprocessor"):
            print(f"{fixture.name}/{part}/saved_model.pb sha256 {sha256(target / part / 'saved_model.pb')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
